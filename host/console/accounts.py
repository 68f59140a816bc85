"""Staff accounts: adding them, signing in with lockout, the demo accounts.

Lockout: `lockout_failures` wrong passwords in a row lock the account for
`lockout_minutes`; while locked even the right password is refused. Unknown
user names are counted the same way (in memory), so the answers - and their
timing - do not tell which names exist."""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
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
from host.console.settings import ConsoleSettings
from host.console.tables import ROLES, staff_users
from host.db import inserted_id

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
        self._unknown_failures: dict[str, tuple[int, float | None]] = {}

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
            with self.engine.begin() as conn:
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

    def set_disabled(self, username: str, disabled: bool) -> None:
        self._update(username, disabled=int(disabled))

    def _update(self, username: str, **values: object) -> None:
        with self.engine.begin() as conn:
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
    def sign_in(self, username: str, password: str) -> SignIn:
        """Blocking (scrypt): call from a worker thread."""
        name = normalise_username(username)
        now = self.clock()
        with self.engine.connect() as conn:
            row = conn.execute(select(staff_users).where(staff_users.c.username == name)).first()
        if row is None:
            burn_time(password, self.cost)
            return self._unknown_failure(name, now)
        if row.locked_until is not None and row.locked_until > now:
            burn_time(password, self.cost)
            return SignIn("locked", locked_until=row.locked_until)
        ok = verify_password(password, row.password_hash)
        if ok and row.disabled:
            return SignIn("disabled")
        with self.engine.begin() as conn:
            if ok:
                values: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
                if needs_rehash(row.password_hash, self.cost):    # parameters raised since: upgrade it now
                    values["password_hash"] = hash_password(password, self.cost)
                conn.execute(update(staff_users).where(staff_users.c.id == row.id).values(**values))
                return SignIn("ok", _user(row))
            failures = (0 if row.locked_until is not None else row.failed_logins) + 1
            locked = now + self.settings.lockout_minutes * 60 if failures >= self.settings.lockout_failures else None
            conn.execute(update(staff_users).where(staff_users.c.id == row.id).values(
                failed_logins=failures, locked_until=locked))
        return SignIn("locked", locked_until=locked) if locked else SignIn("wrong")

    def _unknown_failure(self, name: str, now: float) -> SignIn:
        failures, locked_until = self._unknown_failures.get(name, (0, None))
        if locked_until is not None and locked_until > now:
            return SignIn("locked", locked_until=locked_until)
        failures = (0 if locked_until is not None else failures) + 1
        locked = now + self.settings.lockout_minutes * 60 if failures >= self.settings.lockout_failures else None
        if len(self._unknown_failures) > 10_000:    # bounded: a name sweep cannot fill memory
            self._unknown_failures.clear()
        self._unknown_failures[name] = (failures, locked)
        return SignIn("locked", locked_until=locked) if locked else SignIn("wrong")
