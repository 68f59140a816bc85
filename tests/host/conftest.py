"""Fixtures for the reference host tests: a host config with known tariffs
(independent of the demo file), a fresh SQLite database, the seeded demo estate."""
from __future__ import annotations

import shutil
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
@pytest.fixture(scope="session")
def bank_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded database file (estate, bank accounts, kiosks), copied by each bank test."""
    folder = tmp_path_factory.mktemp("bank-template")
    (folder / "host.toml").write_text(TEST_HOST_TOML, encoding="utf-8")
    settings = load_host_settings(folder / "host.toml")
    engine = make_engine(f"sqlite:///{folder / 'host.sqlite3'}")
    create_tables(engine)
    seed_demo(engine, settings, 2000, today=SEED_TODAY)
    engine.dispose()          # checkpoints the WAL: the main file is the whole database
    return folder / "host.sqlite3"


@pytest.fixture
def bank(bank_template: Path, tmp_path: Path, host_toml: Path) -> Iterator[BankEnv]:
    db = tmp_path / "bank.sqlite3"
    shutil.copyfile(bank_template, db)
    settings = load_host_settings(host_toml)
    engine = make_engine(f"sqlite:///{db}")
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
