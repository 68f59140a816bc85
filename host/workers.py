"""`kiosk host serve --workers N`: N host processes behind one port
(docs/host.md "Several workers").

How: the supervisor (this process) binds the HTTP socket and, with [bank]
link_port, the ISO 8583 front-end's socket, then forks N workers. Each worker
inherits both listening sockets, so whichever is free accepts the next
connection (the kernel hands it to one of them), opens its own database
engine (no connection crosses a fork) and runs the same app as one process
does, in shared mode (host.fleet.shared): heartbeats, commands, offline
detection and live events go through PostgreSQL instead of one process's
memory. The supervisor serves nothing; it restarts a worker that dies
(`kill -9`, a crash) at once and passes SIGINT/SIGTERM on to all of them.

Why fork and not uvicorn's own `workers=`: uvicorn's supervisor starts its
workers by spawning a fresh interpreter per worker and knows only its HTTP
socket; the 8583 front-end needs its listening socket shared too, and the
once-a-day jobs must run in exactly one process. Binding both sockets here
and forking gives every worker both, and the supervisor is the one process
that runs the daily jobs (the one-card blacklist run, at start), before any
worker exists."""
from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A test (tests/host/test_workers.py) sets this to see which worker answered:
# every reply then carries X-Host-Worker: <index>/<pid>. Never in production.
WORKER_HEADER_ENV = "KIOSK_HOST_WORKER_HEADER"
RESTART_PAUSE_S = 0.2          # a worker that dies at once is not restarted in a tight loop


@dataclass(frozen=True, slots=True)
class WorkerRole:
    """Which of N workers this process is. Worker 0 also runs the fleet's
    offline sweep and command expiry (once, not once per worker)."""
    index: int
    count: int

    @property
    def sweeps(self) -> bool:
        return self.index == 0


class WorkerHeader:
    """ASGI middleware: X-Host-Worker on every HTTP reply (tests only, WORKER_HEADER_ENV),
    and Server-Timing `app;dur=<ms>`: from the request to its reply's start, for
    benchmarks/bench_fleet_workers.py (a console page is rendered before it starts)."""

    def __init__(self, app: ASGIApp, role: WorkerRole) -> None:
        self.app = app
        self.value = f"{role.index}/{os.getpid()}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        start = time.perf_counter()

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = f"app;dur={(time.perf_counter() - start) * 1000:.2f}".encode()
                message = {**message, "headers": [*message.get("headers", []), (b"x-host-worker", self.value),
                                                  (b"server-timing", took)]}
            await send(message)
        await self.app(scope, receive, tagged)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket every forked worker will accept on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Forks `count` workers running `work(role)` (which returns an exit code),
    restarts any that dies unasked, and stops them all on SIGINT/SIGTERM."""

    def __init__(self, count: int, work: Callable[[WorkerRole], int],
                 say: Callable[[str], None] = lambda text: print(text, flush=True)) -> None:
        self.count, self.work, self.say = count, work, say
        self.children: dict[int, int] = {}      # pid -> worker index
        self.stopping = False

    def _fork(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:                             # the worker
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                code = self.work(WorkerRole(index, self.count))
            except BaseException:                # noqa: BLE001 - a worker reports and exits, never returns
                import traceback
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.children[pid] = index

    def _stop(self, _sig: int, _frame: object) -> None:
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for index in range(self.count):
                self._fork(index)
            self.say(f"{self.count} workers: " + ", ".join(f"{i} pid {p}" for p, i in sorted(
                self.children.items(), key=lambda item: item[1])))
            while self.children:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                index = self.children.pop(pid, -1)
                if index < 0 or self.stopping:
                    continue
                self.say(f"worker {index} (pid {pid}) ended ({_how(status)}); starting it again")
                time.sleep(RESTART_PAUSE_S)
                if not self.stopping:
                    self._fork(index)
                    self.say(f"worker {index} is pid {max(p for p, i in self.children.items() if i == index)}")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.waitstatus_to_exitcode(status)}"
