"""Fixtures for the reference host tests: a host config with known tariffs
(independent of the demo file), a fresh SQLite database, the seeded demo estate."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from host.config import HostSettings, load_host_settings
from host.db import make_engine
from host.schema import create_tables
from host.seed import seed_demo
from tests.support.host_env import SEED_TODAY, TEST_HOST_TOML


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
