"""Fixtures for the reference host tests: a host config with known tariffs
(independent of the demo file), an empty host database and the seeded demo
estate, each on the test's backend (SQLite unless the module is marked
`pytest.mark.backends(*BACKENDS)`, tests/support/databases.py)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from host.config import HostSettings, load_host_settings
from host.db import make_engine
from tests.support.databases import Databases
from tests.support.host_env import TEST_HOST_TOML, build_bank_template

Seeded = tuple[HostSettings, Engine]


@pytest.fixture
def host_toml(tmp_path: Path) -> Path:
    path = tmp_path / "host.toml"
    path.write_text(TEST_HOST_TOML, encoding="utf-8")
    return path


@pytest.fixture
def settings(host_toml: Path) -> HostSettings:
    return load_host_settings(host_toml)


@pytest.fixture
def engine(databases: Databases, backend: str, tmp_path: Path) -> Iterator[Engine]:
    """The host's tables at head and no row, on the test's backend."""
    with databases.empty(backend, tmp_path) as engine:
        yield engine


@pytest.fixture(scope="session")
def seeded_on(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Seeded]]:
    """`seeded_on(backend)`: the 2,000-household demo estate as of SEED_TODAY (a
    copy of the bank template, tests/conftest.py), one per backend for the
    session. Shared: tests must not write to it."""
    made: dict[str, Seeded] = {}

    def on(backend: str) -> Seeded:
        if backend not in made:
            folder = tmp_path_factory.mktemp(f"seeded-{backend}")
            (folder / "host.toml").write_text(TEST_HOST_TOML, encoding="utf-8")
            url = databases.fresh(backend, "bank", build_bank_template, folder)
            made[backend] = load_host_settings(folder / "host.toml"), make_engine(url)
        return made[backend]
    yield on
    for _, engine in made.values():
        engine.dispose()


@pytest.fixture
def seeded(seeded_on: Callable[[str], Seeded], backend: str) -> Seeded:
    """The shared seeded estate on the test's backend (tests must not write to it)."""
    return seeded_on(backend)
