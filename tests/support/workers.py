"""`kiosk host serve --workers N` as a subprocess on a PostgreSQL database of
the session's server (tests/support/postgres.py), for the cross-worker tests
(tests/host/test_workers.py). Every reply carries X-Host-Worker (host.workers,
WORKER_HEADER_ENV), so a test knows which worker answered."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from common.settings import PROJECT_ROOT
from tests.support.bank8583 import TMK
from common.crypto import request_mac
from tests.support.fleet import TMKS, SignedKiosk
from tests.support.signing import SignedReply
from tests.support.host_env import SEED_TODAY, TARIFFS_AND_BANK

HOUSEHOLDS = 2000          # the demo estate's minimum (host.seed): a bill to pay over 8583
CONSOLE_USER, CONSOLE_PASSWORD = "opsstaff", "a-long-enough-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def workers_toml(http_port: int, bank_port: int) -> str:
    assert TMKS["KIOSK-A"] == TMK     # terminal KIOSK001 is kiosk KIOSK-A, one TMK for both channels
    return f"""
demo = true
[host]
estate_name = "翠湖花园"
listen_port = {http_port}

[fleet]
sweep_interval_s = 0.2

[console]
secure_cookies = false
{TARIFFS_AND_BANK}
link_port = {bank_port}

[bank.terminals]
KIOSK001 = "KIOSK-A"
""" + "".join(f'\n[kiosks."{k}"]\ntmk = "{t.hex().upper()}"\n' for k, t in TMKS.items())


def seed(url: str, toml: Path) -> None:
    """The template: a small estate at head, and one console operator."""
    from host.config import load_host_settings
    from host.console.accounts import Accounts
    from host.db import make_engine
    from host.schema import create_tables
    from host.seed import seed_demo

    settings = load_host_settings(toml)
    engine = make_engine(url)
    try:
        create_tables(engine)
        seed_demo(engine, settings, HOUSEHOLDS, today=SEED_TODAY)
        Accounts(engine, settings.console).add(CONSOLE_USER, CONSOLE_PASSWORD, "operator", by="test")
    finally:
        engine.dispose()


@dataclass
class WorkersHost:
    proc: subprocess.Popen[str]
    url: str
    bank_port: int
    db_url: str
    toml: Path
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def worker_of(self, response: httpx.Response) -> str:
        """"index/pid" of the worker that answered."""
        return response.headers["x-host-worker"]

    def workers(self) -> list[str]:
        """The workers answering now (new connections until both are seen, bounded)."""
        seen: set[str] = set()
        for _ in range(200):
            with httpx.Client(timeout=5) as fresh:
                seen.add(fresh.get(self.url + "/api/v1/health").headers["x-host-worker"])
            if len(seen) >= 2:
                break
        return sorted(seen)

    def stop(self) -> tuple[int, str, str]:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out or "", err or ""


def start(folder: Path, db_url: str, count: int = 2, env: dict[str, str] | None = None,
          log: Path | None = None) -> WorkersHost:
    """`python -m host serve --workers count` on db_url (`env`: more of the
    environment, e.g. host.faults' KIOSK_HOST_FAULTS); returns once it answers."""
    http_port, bank_port = free_port(), free_port()
    toml = folder / "host.toml"
    toml.write_text(workers_toml(http_port, bank_port), encoding="utf-8")
    env = {**os.environ, "KIOSK_HOST_WORKER_HEADER": "1", "PYTHONPATH": str(PROJECT_ROOT), **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "host", "--config", str(toml), "--db", db_url, "serve",
                             "--workers", str(count)], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE if log is None else log.open("w"),   # `log`: a file, a pipe
                            stderr=subprocess.PIPE if log is None else subprocess.STDOUT, text=True)  # never fills
    host = WorkersHost(proc, f"http://127.0.0.1:{http_port}", bank_port, db_url, toml)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"the host stopped: {host.stop()}")
        try:
            if httpx.get(host.url + "/api/v1/health", timeout=1).status_code == 200:
                return host
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the host did not answer within 30 s: {host.stop()}")
        time.sleep(0.05)


def until_other_worker(than: str, send: Callable[[], httpx.Response | Any], worker: Callable[[Any], str],
                       tries: int = 200) -> Any:
    """`send()` again (each on a new connection) until a worker other than `than` answers."""
    for _ in range(tries):
        reply = send()
        if worker(reply) != than:
            return reply
    raise AssertionError(f"every reply came from worker {than}")


class WorkerKiosk(SignedKiosk):
    """A kiosk whose every message goes on a new connection (so any worker may
    take it) and remembers which worker answered."""

    last_worker: str = ""

    def send(self, path: str, raw: bytes, key: bytes | None, *, mac: str | None = None) -> SignedReply:
        headers = {"Content-Type": "application/json"}
        if mac is None and key is not None:
            mac = request_mac(key, path, raw).hex().upper()
        if mac is not None:
            headers["X-MAC"] = mac
        with httpx.Client(timeout=10) as fresh:
            response = fresh.post(self.base_url + path, content=raw, headers=headers)
        self.last_worker = response.headers.get("x-host-worker", "")
        return SignedReply(response.status_code, response.content, response.headers.get("x-mac"), key)

    def heartbeat_on(self, wanted: Callable[[str], bool], tries: int = 200, **kwargs: Any) -> SignedReply:
        """Heartbeats (each a new counter, all accepted) until one lands on a worker `wanted` accepts."""
        for _ in range(tries):
            reply = self.heartbeat(**kwargs)
            assert reply.status == 200, reply.body
            if wanted(self.last_worker):
                return reply
        raise AssertionError("no heartbeat reached the wanted worker")
