"""Server-side sessions. The browser holds a random token in an HttpOnly,
SameSite=Strict cookie; the table holds only its SHA-256, the user, and the
session's CSRF token, which every state-changing request must echo."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from host.config.console import ConsoleSettings
from host.db import WriterBusy, write_transaction
from host.schema.console import staff_sessions, staff_users

log = logging.getLogger(__name__)

COOKIE = "console_session"
TOUCH_EVERY_S = 60.0          # last_seen_at is written at most this often per session


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: str
    user_id: int
    csrf_token: str
    created_at: float
    last_seen_at: float


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


class Sessions:
    def __init__(self, engine: Engine, settings: ConsoleSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.engine, self.settings, self.clock = engine, settings, clock

    def create(self, user_id: int, ip: str) -> tuple[str, Session]:
        """A fresh session (a new token at every sign-in: no session fixation)."""
        token, now = secrets.token_urlsafe(32), self.clock()
        session = Session(_hash(token), user_id, secrets.token_urlsafe(32), now, now)
        with write_transaction(self.engine) as conn:     # one short write: purge and insert
            self._purge(conn, now)         # a sign-in is rare: the moment to drop expired sessions
            conn.execute(insert(staff_sessions).values(
                token_hash=session.token_hash, user_id=user_id, csrf_token=session.csrf_token,
                created_at=now, last_seen_at=now, ip=ip[:64]))
        return token, session

    def _expired(self, created_at: float, last_seen_at: float, now: float) -> bool:
        return (now - last_seen_at > self.settings.session_idle_minutes * 60
                or now - created_at > self.settings.session_max_hours * 3600)

    def lookup(self, token: str | None) -> Session | None:
        """The live session of this cookie, or None. A read only: expired ones are
        ended by `end`/`purge`, and `touch` records activity (writes wait on fsync,
        so the caller runs them off the event loop)."""
        if not token or len(token) > 100:
            return None
        token_hash, now = _hash(token), self.clock()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(staff_sessions, staff_users.c.disabled)
                .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
                .where(staff_sessions.c.token_hash == token_hash)).first()
        if row is None:
            return None
        if row.disabled or self._expired(row.created_at, row.last_seen_at, now):
            return None
        return Session(row.token_hash, row.user_id, row.csrf_token, row.created_at, row.last_seen_at)

    def needs_touch(self, session: Session) -> bool:
        return self.clock() - session.last_seen_at >= TOUCH_EVERY_S

    def touch(self, session: Session) -> bool:
        """Records activity (at most every TOUCH_EVERY_S per session, in its own
        short write). Best effort: a busy database skips it (the next request
        touches again) instead of failing the page; False then."""
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(update(staff_sessions).where(staff_sessions.c.token_hash == session.token_hash)
                             .values(last_seen_at=self.clock()))
        except (WriterBusy, OperationalError) as exc:
            log.warning("session activity not recorded (database busy): %s", type(exc).__name__)
            return False
        return True

    def end(self, token: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == _hash(token)))

    def end_all_for(self, user_id: int) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(delete(staff_sessions).where(staff_sessions.c.user_id == user_id))

    def purge(self) -> None:
        with write_transaction(self.engine) as conn:
            self._purge(conn, self.clock())

    def _purge(self, conn: Connection, now: float) -> None:
        idle_cut = now - self.settings.session_idle_minutes * 60
        age_cut = now - self.settings.session_max_hours * 3600
        conn.execute(delete(staff_sessions).where(
            (staff_sessions.c.last_seen_at < idle_cut) | (staff_sessions.c.created_at < age_cut)))
