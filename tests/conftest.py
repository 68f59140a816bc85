"""Fixtures shared across the suite: the demo estate, seeded once, and real
reference hosts on loopback, each on its own copy of it."""
from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.support.clocks import running_from, TODAY


@pytest.fixture(scope="session")
def today() -> date:
    return TODAY


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo estate and its bank accounts as of TODAY: seeded once, copied per host."""
    from host.config import load_host_settings
    from host.db import make_engine
    from host.schema import create_tables
    from host.seed import seed_demo

    path = tmp_path_factory.mktemp("demo-estate") / "host.sqlite3"
    settings = dataclasses.replace(load_host_settings(), database_url=f"sqlite:///{path}")
    engine = make_engine(settings.database_url)
    create_tables(engine)
    seed_demo(engine, settings, today=TODAY)
    engine.dispose()   # the last connection checkpoints the WAL into the main file
    return path


@pytest.fixture(scope="session")
def start_host(demo_db: Path) -> Callable[[Path], Any]:
    """Start a real host (host.app under uvicorn on a free loopback port, date
    running from TODAY, or `clock`) on a fresh copy of the demo estate in `folder`. The server
    carries its `.engine`; stop it and dispose the engine when done."""
    from host.app import create_app
    from host.config import load_host_settings
    from host.db import make_engine
    from host.server import HostServer

    def start(folder: Path, clock: Any = None) -> Any:
        db = folder / "host.sqlite3"
        shutil.copy(demo_db, db)
        settings = dataclasses.replace(load_host_settings(), database_url=f"sqlite:///{db}")
        engine = make_engine(settings.database_url)
        clock = clock or running_from(TODAY)
        server = HostServer(create_app(settings, engine, clock=clock), "127.0.0.1", 0)
        server.engine, server.settings, server.clock = engine, settings, clock   # tests.support.kiosks.host_bill
        server.start()
        return server
    return start


@pytest.fixture(scope="session")
def reference_host(tmp_path_factory: pytest.TempPathFactory, start_host: Callable[[Path], Any]) -> Iterator[Any]:
    """One host for the session, for tests that only read (bill look-ups)."""
    server = start_host(tmp_path_factory.mktemp("host"))
    yield server
    if server.running:
        server.stop()
    server.engine.dispose()


@pytest.fixture(scope="session")
def demo_kiosk_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The journal, and so the message counter, of every demo kiosk that signs
    messages to `reference_host` (tests.support.kiosks): one for the session, so
    the counter only rises and the host never sees a replay."""
    return tmp_path_factory.mktemp("demo-kiosk") / "journal.sqlite3"


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One private pcscd for the whole test session, on the first free pair of
    ports from 40200 (another test run may hold some): pcsc-lite reads its
    socket's path once per process, so every test that talks PC/SC shares this
    one (docs/cards.md §4) -- no folder of tests may start its own."""
    from kiosk.devices.sim.pcscd import PrivatePcscd, listening_ports

    busy = listening_ports()
    base = next(p for p in range(40200, 40600, 2) if p not in busy and p + 1 not in busy)
    daemon = PrivatePcscd(tmp_path_factory.mktemp("pcscd"), base_port=base)
    if not daemon.private:
        pytest.skip("a private pcscd needs root (unshare -m); the system pcscd is not for tests")
    with daemon:
        yield daemon
