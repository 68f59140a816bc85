"""Fixtures shared across the suite: the demo estate, seeded once, and real
reference hosts on loopback, each on its own copy of it."""
from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, TYPE_CHECKING

import pytest

from tests.support.clocks import running_from, TODAY
from tests.support.databases import Databases, POSTGRESQL, SQLITE

# Fixture modules shared by several folders: one definition each, so the console's
# and the security tests' hosts share one template (tests/support/__init__.py).
pytest_plugins = ["tests.support.console_env", "tests.support.fleet_env"]

# Kivy windows in tests draw without multisampling: on llvmpipe (Xvfb) a 2x
# multisampled window costs ~10x the frame time (40-120 ms against 4-10 ms a
# frame at 1640x800), and the UI tests wait on hundreds of frames. Nothing reads
# the window's pixels: every screenshot is `export_to_png` (an Fbo, never
# multisampled), the layout checks are geometry. Set before Kivy's first import,
# which reads its KCFG_ variables once (docs/performance.md, "The test suite's wall time").
os.environ.setdefault("KCFG_GRAPHICS_MULTISAMPLES", "0")

if TYPE_CHECKING:       # the host's modules load only when a test asks for a host
    from tests.support.host_env import BankEnv


# The files that take minutes each (drawing under Xvfb), slowest first. Under
# pytest-xdist (`make test`: --dist loadfile --no-loadscope-reorder) files are
# handed to the workers in collection order, so these go first: one of them
# started last would keep one worker busy long after the other had finished.
# tests/ui/ sorts last in collection order, so every UI file of more than half
# a minute is here, and so is every other file of a minute or more (per-file sums
# of `--durations=0`, 2026-12-05; docs/performance.md "The test suite's wall time").
SLOW_FILES = ("tests/ui/test_ui_wallet.py", "tests/ui/test_ui_tour.py", "tests/ui/test_ui_payment.py",
              "tests/ui/test_ui_layout.py", "tests/ui/test_ui_flows.py", "tests/test_benchmarks.py",
              "tests/host/test_card_centre_load.py", "tests/host/test_bank_security.py",
              "tests/security/test_writes_and_signin.py", "tests/transfers/test_transfer_kiosk.py",
              "tests/payments/test_wallet_tears.py", "tests/ui/test_bank_card_services.py",
              "tests/security/test_api_fuzz.py", "tests/ui/test_transfer_ui.py", "tests/ui/test_onecard_ui.py",
              "tests/ui/test_ui_console.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if "PYTEST_XDIST_WORKER" in os.environ:     # a serial run keeps pytest's order
        rank = {name: i for i, name in enumerate(SLOW_FILES)}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(SLOW_FILES)))   # stable


@pytest.fixture(scope="session")
def today() -> date:
    return TODAY


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    """Seeded templates per backend, and the session's PostgreSQL server (started
    only when a test asks for the PostgreSQL backend; stopped and removed at the end)."""
    made = Databases(tmp_path_factory)
    yield made
    made.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`pytest.mark.backends(*BACKENDS)` on a module or test: every test of it whose
    host fixtures take the `backend` runs once per backend named."""
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is not None and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", list(marker.args), indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The host's database backend: SQLite unless the test is marked
    `pytest.mark.backends(*BACKENDS)`; PostgreSQL is skipped only when its
    binaries or driver are missing (tests/support/postgres.py)."""
    name = getattr(request, "param", SQLITE)
    assert name in (SQLITE, POSTGRESQL), name
    if name == POSTGRESQL:
        request.getfixturevalue("databases").pg     # starts the server, or skips with the reason
    return str(name)


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


def build_demo_template(url: str) -> None:
    """The demo estate as `demo_db` holds it (config/host.demo.toml, as of TODAY),
    on another backend: the PostgreSQL template of `demo_estate`."""
    from host.config import load_host_settings
    from host.db import make_engine
    from host.schema import create_tables
    from host.seed import seed_demo

    settings = dataclasses.replace(load_host_settings(), database_url=url)
    engine = make_engine(url)
    create_tables(engine)
    seed_demo(engine, settings, today=TODAY)
    engine.dispose()          # PostgreSQL copies a template only while nobody is connected to it


@pytest.fixture(scope="session")
def demo_estate(demo_db: Path, databases: Databases) -> Callable[[str, Path], str]:
    """`demo_estate(backend, folder)`: the URL of a fresh copy of the demo estate
    on `backend` -- SQLite: `demo_db` copied to folder/host.sqlite3, as always;
    PostgreSQL: a database made from the "demo" template (built once per session).
    `databases.release(url)` when its host has stopped."""
    def fresh(backend: str, folder: Path) -> str:
        if backend == SQLITE:
            db = folder / "host.sqlite3"
            shutil.copy(demo_db, db)
            return f"sqlite:///{db}"
        return databases.fresh(backend, "demo", build_demo_template, folder)
    return fresh


@pytest.fixture(scope="session")
def start_host(demo_estate: Callable[[str, Path], str]) -> Callable[..., Any]:
    """Start a real host (host.app under uvicorn on a free loopback port, date
    running from TODAY, or `clock`) on a fresh copy of the demo estate in `folder`
    (on `backend`, SQLite unless asked). The server carries its `.engine` and
    `.db_url`; stop it, dispose the engine and `databases.release(server.db_url)` when done."""
    from host.app import create_app
    from host.config import load_host_settings
    from host.db import make_engine
    from host.server import HostServer
    from tests.support.bank8583 import start_front_end

    def start(folder: Path, clock: Any = None, backend: str = SQLITE) -> Any:
        settings = dataclasses.replace(load_host_settings(), database_url=demo_estate(backend, folder))
        engine = make_engine(settings.database_url)
        clock = clock or running_from(TODAY)
        server = HostServer(create_app(settings, engine, clock=clock), "127.0.0.1", 0)
        server.engine, server.settings, server.clock = engine, settings, clock   # tests.support.kiosks.host_bill
        server.db_url = settings.database_url
        server.start()
        start_front_end(server, settings, engine, clock)   # server.bank, server.bank_port
        return server
    return start


@pytest.fixture(scope="session")
def reference_host(tmp_path_factory: pytest.TempPathFactory, start_host: Callable[[Path], Any]) -> Iterator[Any]:
    """One host for the session, for tests that only read (bill look-ups)."""
    server = start_host(tmp_path_factory.mktemp("host"))
    yield server
    server.bank.stop()
    if server.running:
        server.stop()
    server.engine.dispose()


@pytest.fixture(scope="session")
def demo_kiosk_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The journal, and so the message counter, of every demo kiosk that signs
    messages to `reference_host` (tests.support.kiosks): one for the session, so
    the counter only rises and the host never sees a replay."""
    return tmp_path_factory.mktemp("demo-kiosk") / "journal.sqlite3"


def _pcscd_port_range() -> range:
    """This process's share of 40200-40600 for its pcscd's vpcd pair: under
    pytest-xdist each worker has a slice of its own, so two workers never pick the
    same free pair at the same moment (both scan before either binds)."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    width = 400 // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) // 2 * 2
    return range(40200 + worker * width, 40200 + (worker + 1) * width, 2)


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One private pcscd for the whole test session (per xdist worker), on the
    first free pair of ports in the worker's slice of 40200-40600 (another test
    run may hold some): pcsc-lite reads its socket's path once per process, so
    every test that talks PC/SC shares this one (docs/cards.md §4) -- no folder
    of tests may start its own."""
    from kiosk.devices.sim.pcscd import PrivatePcscd, ports_in_use

    busy = ports_in_use()
    base = next(p for p in _pcscd_port_range() if p not in busy and p + 1 not in busy)
    daemon = PrivatePcscd(tmp_path_factory.mktemp("pcscd"), base_port=base)
    if not daemon.private:
        pytest.skip("a private pcscd needs root (unshare -m); the system pcscd is not for tests")
    with daemon:
        yield daemon


# --- bank front-end: a private copy of a seeded estate per test, over real HTTP --
# (here, not in tests/host: tests/security races the bank too)
def build_bank_template(url: str) -> None:
    """A seeded database (estate, bank accounts, kiosks), copied by each bank test
    (tests/support/host_env.py, where tests/host's `seeded` builds it too)."""
    from tests.support.host_env import build_bank_template as build
    build(url)


@pytest.fixture(scope="session")
def bank_template(databases: Databases) -> Path:
    """The seeded SQLite file (for tests that start a host of their own)."""
    path = databases.template(SQLITE, "bank", build_bank_template)
    assert isinstance(path, Path)
    return path


@pytest.fixture
def bank_url(databases: Databases, backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh copy of the seeded bank template on the test's backend."""
    url = databases.fresh(backend, "bank", build_bank_template, tmp_path, "bank.sqlite3")
    yield url
    databases.release(url)


@pytest.fixture
def bank(bank_url: str, tmp_path: Path) -> Iterator[BankEnv]:
    """A running host on its own copy of the seeded estate (the test's backend),
    configured by TEST_HOST_TOML (tests/host's `host_toml` is the same file), and a kiosk."""
    from host.app import create_app
    from host.config import load_host_settings
    from host.db import make_engine
    from host.server import HostServer
    from tests.support.host_env import BankEnv, KioskSigner, SEED_TODAY, TEST_HOST_TOML, TEST_KIOSK, TEST_TMK
    host_toml = tmp_path / "host.toml"
    host_toml.write_text(TEST_HOST_TOML, encoding="utf-8")
    settings = load_host_settings(host_toml)
    engine = make_engine(bank_url)
    server = HostServer(create_app(settings, engine, clock=running_from(SEED_TODAY)))
    server.start()
    kiosk = KioskSigner(server.url, TEST_KIOSK, TEST_TMK)
    env = BankEnv(server.url, settings, engine, kiosk)
    try:
        yield env
    finally:
        kiosk.close()
        server.stop()
        engine.dispose()
