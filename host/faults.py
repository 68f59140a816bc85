"""Test-only fault points: a worker kills itself (SIGKILL) at a named moment of
one request, so tests/host/test_worker_faults.py can cut a payment, a backup
copy or a heartbeat exactly where it hurts (docs/host.md "Several workers",
"Faults"). Never switched on in production.

Switched on by the environment variable KIOSK_HOST_FAULTS, read once at start
(import): the name of a directory. A point is armed by creating a file of its
name there; the first process that reaches the point removes the file (one
unlink wins, so a point fires once across all workers) and SIGKILLs itself.
Without the variable every point is one `is None` test.

Points are "<scope>.<moment>": the scope is the request being served — an HTTP
path with its slashes as dots (`api.v1.fleet.heartbeat`) or the bank link's
`bank.<MTI>` (`bank.0200`) — and the moment is `before_commit` (the request's
transaction has done its work and its COMMIT is about to go to the database:
the kill leaves it uncommitted) or `before_reply` (committed, the reply not yet
written)."""
from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FAULTS_ENV = "KIOSK_HOST_FAULTS"
_DIR: Path | None = Path(os.environ[FAULTS_ENV]) if os.environ.get(FAULTS_ENV) else None
_SCOPE: ContextVar[str | None] = ContextVar("fault_scope", default=None)


def armed() -> bool:
    """Whether this process runs with fault points (tests only)."""
    return _DIR is not None


@contextmanager
def scope(name: str) -> Iterator[None]:
    """The request being served, for the points reached inside it (threads
    started with its context, as run_in_threadpool's are, see it too)."""
    token = _SCOPE.set(name)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def point(moment: str) -> None:
    """SIGKILL this process if "<scope>.<moment>" is armed (and disarm it)."""
    if _DIR is None:
        return
    current = _SCOPE.get()
    if current is None:
        return
    try:
        os.unlink(_DIR / f"{current}.{moment}")
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def _before_commit(_conn: Connection) -> None:
    point("before_commit")


def install(engine: Engine) -> None:
    """The engine's COMMITs pass the `before_commit` point (when armed())."""
    if _DIR is not None:
        event.listen(engine, "commit", _before_commit)


class FaultScope:
    """ASGI middleware (when armed()): each HTTP request is its path's scope,
    and its reply passes the `before_reply` point before a byte is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope_: Scope, receive: Receive, send: Send) -> None:
        if scope_["type"] != "http":
            await self.app(scope_, receive, send)
            return

        async def checked(message: Message) -> None:
            if message["type"] == "http.response.start":
                point("before_reply")
            await send(message)
        with scope(str(scope_["path"]).strip("/").replace("/", ".")):
            await self.app(scope_, receive, checked)
