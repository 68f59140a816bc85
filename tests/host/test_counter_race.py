"""A kiosk message's counter is accepted by a conditional UPDATE in the
message's transaction (host.bank.keys.advance_counter), so two workers never
both accept one counter (issue 12, deliverable 2): here two connections race
with the same counter and exactly one is accepted."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from host.bank.keys import advance_counter, register_kiosk
from tests.support.databases import BACKENDS, POSTGRESQL, Databases
from tests.support.fleet import wait_until

pytestmark = pytest.mark.backends(*BACKENDS)


@pytest.fixture
def engine(backend: str, databases: Databases, tmp_path: Path) -> Iterator[Engine]:
    with databases.empty(backend, tmp_path) as engine:
        with engine.begin() as conn:
            register_kiosk(conn, "KIOSK-R")
        yield engine


def test_a_counter_is_accepted_once_and_never_below(engine: Engine) -> None:
    with engine.begin() as conn:
        assert advance_counter(conn, "KIOSK-R", 5)
        assert not advance_counter(conn, "KIOSK-R", 5)
        assert not advance_counter(conn, "KIOSK-R", 4)
        assert advance_counter(conn, "KIOSK-R", 6)


def test_two_connections_racing_one_counter_accept_it_once(engine: Engine, backend: str) -> None:
    if backend != POSTGRESQL:
        pytest.skip("SQLite has one writer: the second waits at BEGIN IMMEDIATE, the first test covers it")
    outcome: dict[str, bool] = {}
    first = engine.connect()
    tx = first.begin()
    outcome["first"] = advance_counter(first, "KIOSK-R", 7)      # holds the row lock, not committed

    def second() -> None:
        with engine.begin() as conn:
            outcome["second"] = advance_counter(conn, "KIOSK-R", 7)

    racer = threading.Thread(target=second)
    racer.start()
    with engine.connect() as probe:     # the second UPDATE is waiting on the first's row lock
        wait_until(lambda: probe.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar(),
                   what="the second UPDATE to wait")
    tx.commit()
    first.close()
    racer.join(10)
    assert outcome == {"first": True, "second": False}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT last_counter FROM kiosks WHERE kiosk_id = 'KIOSK-R'")).scalar() == 7
