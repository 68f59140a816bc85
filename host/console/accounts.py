"""Staff accounts: adding them, signing in with throttling, the demo accounts.

Throttling (docs/console.md, "Sign-in throttling"; `SignInGuard`, in memory):
- per account *and source address*: `lockout_failures` wrong passwords in a row
  from one address lock that name for that address for `lockout_minutes`;
  while locked even the right password is refused from there. Other addresses
  are not locked out: an attacker cannot lock the real admin out. Unknown
  user names are counted the same way, so the answers - and their timing - do
  not tell which names exist;
- per source address: after 2 x `lockout_failures` failures (any names), each
  further failure makes the address wait 1 s, 2 s, 4 s ... (up to
  `lockout_minutes`) before its next attempt (429 + Retry-After, no hashing,
  no database write); at most 2 attempts of one address at once;
- everywhere: at most 2 password hashes at once (passwords.py), at most
  MAX_IN_FLIGHT sign-ins waiting (503 beyond).
The account's `failed_logins` counts wrong passwords from every address (reset
by a success) and `locked_until` shows the latest address lock: what admins
see on the Users page; "unlock" ends every address's lock of the account."""
from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError

from host.console.passwords import (
    DEFAULT_COST,
    Cost,
    burn_time,
    check_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from host.config.console import ConsoleSettings
from host.db import inserted_id, write_transaction
from host.schema.console import ROLES, staff_users

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")

# DEMO ONLY - published in README and docs/console.md; created only when
# [console] demo_accounts = true and no account exists yet.
DEMO_ACCOUNTS = (("admin", "demo-admin-pass", "admin", "演示管理员 Demo admin"),
                 ("operator", "demo-operator-pass", "operator", "演示值班员 Demo operator"),
                 ("viewer", "demo-viewer-pass", "viewer", "演示查看员 Demo viewer"))


class AccountError(ValueError):
    """A refused add / change, with a message for the person doing it."""


@dataclass(frozen=True, slots=True)
class StaffUser:
    id: int
    username: str
    display_name: str
    role: str
    disabled: bool = False
    locked_until: float | None = None
    failed_logins: int = 0
    last_login_at: float | None = None
    created_at: float = 0.0
    created_by: str = ""

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class SignIn:
    outcome: str                 # ok | wrong | locked | disabled
    user: StaffUser | None = None
    locked_until: float | None = None


MAX_IN_FLIGHT = 16           # sign-ins checked or waiting for a hash slot, all addresses together
PER_SOURCE_IN_FLIGHT = 2     # of one address
_MAX_ENTRIES = 10_000        # remembered addresses / (name, address) pairs: a sweep cannot fill memory


@dataclass(slots=True)
class _Source:
    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0
    in_flight: int = 0
    throttle_noted: float = 0.0


class SignInGuard:
    """The sign-in throttles of one host process (thread-safe, in memory: a
    restart forgets them; see the module docstring)."""

    def __init__(self, settings: ConsoleSettings, clock: Callable[[], float]) -> None:
        self.settings, self.clock = settings, clock
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        self._pairs: dict[tuple[str, str], tuple[int, float | None]] = {}    # (name, address) -> failures, lock
        self._in_flight = 0

    @property
    def _window(self) -> float:
        return self.settings.lockout_minutes * 60.0

    def admit(self, source: str) -> tuple[str, float]:
        """Before a sign-in is checked: ("ok", 0) - then `release(source)` when
        done - or ("throttled" | "busy", seconds to wait)."""
        now = self.clock()
        with self._lock:
            entry = self._sources.get(source)
            if entry is not None and entry.blocked_until > now:
                return "throttled", entry.blocked_until - now
            if entry is not None and entry.in_flight >= PER_SOURCE_IN_FLIGHT:
                return "throttled", 1.0
            if self._in_flight >= MAX_IN_FLIGHT:
                return "busy", 2.0
            if entry is None:
                self._prune(now)
                entry = self._sources[source] = _Source()
            entry.in_flight += 1
            self._in_flight += 1
            return "ok", 0.0

    def release(self, source: str) -> None:
        with self._lock:
            self._in_flight -= 1
            entry = self._sources.get(source)
            if entry is not None:
                entry.in_flight -= 1

    def note_throttled(self, source: str) -> bool:
        """True at most once a minute per address: when to audit its refusals."""
        now = self.clock()
        with self._lock:
            entry = self._sources.get(source)
            if entry is None or now - entry.throttle_noted < 60:
                return False
            entry.throttle_noted = now
            return True

    def locked(self, name: str, source: str) -> float | None:
        """Until when `name` is locked for `source`, or None."""
        with self._lock:
            _, until = self._pairs.get((name, source), (0, None))
        return until if until is not None and until > self.clock() else None

    def failed(self, name: str, source: str) -> float | None:
        """A wrong password (or unknown name) from `source`: counts it; returns
        the end of the (name, address) lock when this failure starts one."""
        now = self.clock()
        with self._lock:
            failures, until = self._pairs.get((name, source), (0, None))
            failures = (0 if until is not None else failures) + 1
            locked = now + self._window if failures >= self.settings.lockout_failures else None
            self._pairs[(name, source)] = (failures, locked)
            entry = self._sources.setdefault(source, _Source())
            if now - entry.last_failure > self._window:
                entry.failures = 0                     # a quiet quarter of an hour: a fresh start
            entry.failures += 1
            entry.last_failure = now
            free = 2 * self.settings.lockout_failures
            if entry.failures >= free:
                entry.blocked_until = now + min(2.0 ** (entry.failures - free), self._window)
            self._prune(now)
            return locked

    def succeeded(self, name: str, source: str) -> None:
        with self._lock:
            self._pairs.pop((name, source), None)
            entry = self._sources.get(source)
            if entry is not None:
                entry.failures, entry.blocked_until = 0, 0.0

    def forget(self, name: str) -> None:
        """An admin's unlock: every address's lock of `name` ends."""
        with self._lock:
            for key in [k for k in self._pairs if k[0] == name]:
                del self._pairs[key]

    def _prune(self, now: float) -> None:
        if len(self._pairs) > _MAX_ENTRIES:
            for key, (_, until) in list(self._pairs.items()):
                if until is None or until <= now:
                    del self._pairs[key]
            if len(self._pairs) > _MAX_ENTRIES:      # a sweep of live locks: keep the newest half
                self._pairs = dict(sorted(self._pairs.items(), key=lambda kv: kv[1][1] or 0)[_MAX_ENTRIES // 2:])
        if len(self._sources) > _MAX_ENTRIES:
            for address, entry in list(self._sources.items()):
                if entry.in_flight == 0 and entry.blocked_until <= now and now - entry.last_failure > self._window:
                    del self._sources[address]
            if len(self._sources) > _MAX_ENTRIES:
                keep = sorted(self._sources.items(), key=lambda kv: (kv[1].in_flight > 0, kv[1].blocked_until))
                self._sources = dict(keep[_MAX_ENTRIES // 2:])


def retry_after(seconds: float) -> int:
    """A Retry-After header's whole seconds (at least 1)."""
    return max(1, math.ceil(seconds))


def _user(row: Row[Any]) -> StaffUser:
    r = row  # a Row of staff_users
    return StaffUser(r.id, r.username, r.display_name, r.role, bool(r.disabled), r.locked_until,
                     r.failed_logins, r.last_login_at, r.created_at, r.created_by)


def normalise_username(name: str) -> str:
    return name.strip().lower()


class Accounts:
    def __init__(self, engine: Engine, settings: ConsoleSettings, *,
                 clock: Callable[[], float] = time.time, cost: Cost = DEFAULT_COST) -> None:
        self.engine, self.settings, self.clock, self.cost = engine, settings, clock, cost
        self.guard = SignInGuard(settings, clock)

    # --- add and change ---------------------------------------------------------
    def add(self, username: str, password: str, role: str, *, display_name: str = "",
            by: str = "cli") -> StaffUser:
        username = normalise_username(username)
        if not _USERNAME.match(username):
            raise AccountError("a user name is 2-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        try:
            check_policy(password)
        except ValueError as exc:
            raise AccountError(str(exc)) from None
        display = display_name.strip() or username
        if len(display) > 100:
            raise AccountError("a display name is at most 100 characters")
        row: dict[str, Any] = {"username": username, "display_name": display, "role": role,
               "password_hash": hash_password(password, self.cost), "failed_logins": 0, "disabled": 0,
               "created_at": self.clock(), "created_by": by}
        try:
            with write_transaction(self.engine) as conn:
                pk = inserted_id(conn.execute(insert(staff_users), row))
        except IntegrityError:
            raise AccountError(f"user {username!r} already exists") from None
        return StaffUser(pk, username, display, role, created_at=row["created_at"], created_by=by)

    def set_role(self, username: str, role: str) -> None:
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        self._update(username, role=role)

    def unlock(self, username: str) -> None:
        self._update(username, failed_logins=0, locked_until=None)
        self.guard.forget(normalise_username(username))

    def set_disabled(self, username: str, disabled: bool) -> None:
        self._update(username, disabled=int(disabled))

    def _update(self, username: str, **values: object) -> None:
        with write_transaction(self.engine) as conn:
            done = conn.execute(update(staff_users).where(staff_users.c.username == normalise_username(username))
                                .values(**values)).rowcount
        if not done:
            raise AccountError(f"no user {username!r}")

    # --- read -------------------------------------------------------------------
    def get(self, user_id: int) -> StaffUser | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(staff_users).where(staff_users.c.id == user_id)).first()
        return None if row is None else _user(row)

    def all(self) -> list[StaffUser]:
        with self.engine.connect() as conn:
            return [_user(r) for r in conn.execute(select(staff_users).order_by(staff_users.c.username))]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(staff_users)).scalar_one())

    def ensure_demo_accounts(self) -> bool:
        """DEMO ONLY: the published accounts, when there is no account at all."""
        if self.count():
            return False
        for username, password, role, display in DEMO_ACCOUNTS:
            self.add(username, password, role, display_name=display, by="demo")
        return True

    # --- sign in -----------------------------------------------------------------
    def sign_in(self, username: str, password: str, source: str = "") -> SignIn:
        """Blocking (scrypt): call from a worker thread, after `guard.admit(source)`.
        `source`: the client's address (the throttles' key)."""
        name = normalise_username(username)
        now = self.clock()
        until = self.guard.locked(name, source)
        if until is not None:                 # known or not, refused alike, without a hash
            return SignIn("locked", locked_until=until)
        with self.engine.connect() as conn:
            row = conn.execute(select(staff_users).where(staff_users.c.username == name)).first()
        if row is None:
            burn_time(password, self.cost)
            locked = self.guard.failed(name, source)
            return SignIn("locked", locked_until=locked) if locked else SignIn("wrong")
        ok = verify_password(password, row.password_hash)
        if ok and row.disabled:
            return SignIn("disabled")
        if ok:
            values: dict[str, object] = {"failed_logins": 0, "last_login_at": now}
            if needs_rehash(row.password_hash, self.cost):    # parameters raised since: upgrade it now
                values["password_hash"] = hash_password(password, self.cost)    # (hashed before the write)
            with write_transaction(self.engine) as conn:
                conn.execute(update(staff_users).where(staff_users.c.id == row.id).values(**values))
            self.guard.succeeded(name, source)
            return SignIn("ok", _user(row))
        locked = self.guard.failed(name, source)
        changes: dict[str, object] = {"failed_logins": staff_users.c.failed_logins + 1}
        if locked is not None:
            changes["locked_until"] = case((staff_users.c.locked_until > locked, staff_users.c.locked_until),
                                           else_=locked)          # the latest address lock (NULL: this one)
        with write_transaction(self.engine) as conn:      # one short write, never holding a hash
            conn.execute(update(staff_users).where(staff_users.c.id == row.id).values(**changes))
        return SignIn("locked", locked_until=locked) if locked else SignIn("wrong")
