"""The sign-in throttles of several workers (host.console.throttles): what one
worker counts, another enforces (docs/host.md "Several workers"). Two guards
over one database stand for two workers."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from host.config.console import ConsoleSettings
from host.console.throttles import SharedSignInGuard
from tests.support.databases import BACKENDS, Databases

pytestmark = pytest.mark.backends(*BACKENDS)

SETTINGS = ConsoleSettings(lockout_failures=3, lockout_minutes=15)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(backend: str, databases: Databases, tmp_path: Path) -> Iterator[Engine]:
    with databases.empty(backend, tmp_path) as engine:
        yield engine


def test_a_lock_counted_on_one_worker_holds_on_the_other(engine: Engine) -> None:
    clock = Clock()
    a, b = SharedSignInGuard(engine, SETTINGS, clock), SharedSignInGuard(engine, SETTINGS, clock)
    assert a.failed("admin", "10.0.0.9") is None
    assert b.failed("admin", "10.0.0.9") is None
    until = a.failed("admin", "10.0.0.9")                 # the third, wherever it was counted
    assert until == clock.now + 15 * 60
    assert b.locked("admin", "10.0.0.9") == until
    assert b.locked("admin", "10.0.0.7") is None          # another address is not locked out
    b.forget("admin")                                      # an admin's unlock, on either worker
    assert a.locked("admin", "10.0.0.9") is None


def test_an_address_s_back_off_is_seen_by_every_worker(engine: Engine) -> None:
    clock = Clock()
    a, b = SharedSignInGuard(engine, SETTINGS, clock), SharedSignInGuard(engine, SETTINGS, clock)
    for n in range(6):                                     # 2 x lockout_failures, names spread over both
        (a if n % 2 else b).failed(f"user{n}", "10.0.0.9")
    outcome, wait = b.admit("10.0.0.9")
    assert (outcome, wait) == ("throttled", 1.0)
    assert a.admit("10.0.0.9")[0] == "throttled"
    assert a.admit("10.0.0.8") == ("ok", 0.0)
    a.release("10.0.0.8")
    clock.now += 1.5
    assert b.admit("10.0.0.9") == ("ok", 0.0)
    b.release("10.0.0.9")
    a.succeeded("user1", "10.0.0.9")                       # a success clears the address's count
    b.failed("user2", "10.0.0.9")
    assert a.admit("10.0.0.9") == ("ok", 0.0)
