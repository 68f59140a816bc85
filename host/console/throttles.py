"""The sign-in throttles of several workers (docs/host.md "Several workers").

`SignInGuard` (accounts.py) keeps the throttles of one process in memory.
With several workers a sign-in lands on any of them, so the lockouts and the
address back-off must be seen by all: `SharedSignInGuard` keeps them in
`signin_throttles` rows, with the same rules (accounts.py's docstring). Each
change is one short transaction that locks the row it changes (an insert that
does nothing if the row exists, then SELECT … FOR UPDATE), so two workers
counting failures of one address never lose one. The in-flight bounds (how
many sign-ins are checked at once) stay per process: they bound this
process's CPU, not an attacker's attempts."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from host.config.console import ConsoleSettings
from host.console.accounts import SignInGuard
from host.db import write_transaction
from host.schema.console import signin_throttles

_T = signin_throttles.c
ADDRESS = "*"         # the name of an address's own row; a (name, address) row's is "u:" + name


def _locked_row(conn: Connection, name: str, source: str, now: float) -> tuple[int, float, float | None]:
    """(failures, last_failure, until) of the row, created if missing, locked until commit."""
    values = {"name": name, "source": source, "failures": 0, "last_failure": now, "until": None}
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(signin_throttles).values(**values).on_conflict_do_nothing())
    elif conn.execute(select(_T.name).where(_T.name == name, _T.source == source)).first() is None:
        conn.execute(insert(signin_throttles).values(**values))      # SQLite: the write lock is held
    row = conn.execute(select(_T.failures, _T.last_failure, _T.until)
                       .where(_T.name == name, _T.source == source).with_for_update()).one()
    return int(row.failures), float(row.last_failure), row.until


class SharedSignInGuard(SignInGuard):
    def __init__(self, engine: Engine, settings: ConsoleSettings, clock: Callable[[], float]) -> None:
        super().__init__(settings, clock)
        self.engine = engine

    def _until(self, name: str, source: str) -> float | None:
        with self.engine.connect() as conn:
            return conn.execute(select(_T.until).where(_T.name == name, _T.source == source)).scalar()

    def admit(self, source: str) -> tuple[str, float]:
        """Blocking (a read): the address's back-off from the database, then this
        process's in-flight bounds."""
        now = self.clock()
        until = self._until(ADDRESS, source)
        if until is not None and until > now:
            return "throttled", until - now
        return super().admit(source)

    def locked(self, name: str, source: str) -> float | None:
        until = self._until(f"u:{name}", source)
        return until if until is not None and until > self.clock() else None

    def failed(self, name: str, source: str) -> float | None:
        now, name = self.clock(), f"u:{name}"
        with write_transaction(self.engine) as conn:
            failures, _, until = _locked_row(conn, name, source, now)
            failures = (0 if until is not None else failures) + 1
            locked = now + self._window if failures >= self.settings.lockout_failures else None
            conn.execute(update(signin_throttles).where(_T.name == name, _T.source == source)
                         .values(failures=failures, last_failure=now, until=locked))
            count, last, blocked = _locked_row(conn, ADDRESS, source, now)
            count = (0 if now - last > self._window else count) + 1     # a quiet window: a fresh start
            free = 2 * self.settings.lockout_failures
            if count >= free:
                blocked = now + min(2.0 ** (count - free), self._window)
            conn.execute(update(signin_throttles).where(_T.name == ADDRESS, _T.source == source)
                         .values(failures=count, last_failure=now, until=blocked))
            # stale rows (no failure for a window, no lock running) go, a few at a time
            conn.execute(delete(signin_throttles).where(_T.last_failure < now - 2 * self._window,
                                                        (_T.until.is_(None)) | (_T.until < now)))
        return locked

    def succeeded(self, name: str, source: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(delete(signin_throttles).where(_T.name == f"u:{name}", _T.source == source))
            conn.execute(update(signin_throttles).where(_T.name == ADDRESS, _T.source == source)
                         .values(failures=0, until=None))

    def forget(self, name: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(delete(signin_throttles).where(_T.name == f"u:{name}"))
