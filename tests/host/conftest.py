"""Fixtures for the reference host tests: a host config with known tariffs
(independent of the demo file), a fresh SQLite database, the seeded demo estate."""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.support.clocks import running_from
from host.config import HostSettings, load_host_settings
from host.app import create_app
from host.db import make_engine
from host.schema import create_tables
from host.seed import seed_demo
from host.server import HostServer
from tests.support.databases import Databases, SQLITE
from tests.support.host_env import BankEnv, KioskSigner, SEED_TODAY, TEST_HOST_TOML, TEST_KIOSK, TEST_TMK


@pytest.fixture
def host_toml(tmp_path: Path) -> Path:
    path = tmp_path / "host.toml"
    path.write_text(TEST_HOST_TOML, encoding="utf-8")
    return path


@pytest.fixture
def settings(host_toml: Path) -> HostSettings:
    return load_host_settings(host_toml)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'host.sqlite3'}")
    create_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HostSettings, Engine]]:
    """The 2,000-household demo estate as of SEED_TODAY. Shared: tests must not write to it."""
    folder = tmp_path_factory.mktemp("seeded")
    (folder / "host.toml").write_text(TEST_HOST_TOML, encoding="utf-8")
    settings = load_host_settings(folder / "host.toml")
    engine = make_engine(f"sqlite:///{folder / 'host.sqlite3'}")
    create_tables(engine)
    seed_demo(engine, settings, 2000, today=SEED_TODAY)
    yield settings, engine
    engine.dispose()


# --- bank front-end: a private copy of a seeded estate per test, over real HTTP --
def build_bank_template(url: str) -> None:
    """A seeded database (estate, bank accounts, kiosks), copied by each bank test."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "host.toml").write_text(TEST_HOST_TOML, encoding="utf-8")
        settings = load_host_settings(Path(folder) / "host.toml")
        engine = make_engine(url)
        create_tables(engine)
        seed_demo(engine, settings, 2000, today=SEED_TODAY)
        engine.dispose()          # SQLite: checkpoints the WAL; PostgreSQL: a template has no one connected


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
def bank(bank_url: str, host_toml: Path) -> Iterator[BankEnv]:
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
