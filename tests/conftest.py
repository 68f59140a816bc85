"""Fixtures shared across the suite: the real reference host on loopback."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

TODAY = date(2026, 11, 21)   # the host's "today": bills and late fees are the same every run


@pytest.fixture(scope="session")
def today() -> date:
    return TODAY


@pytest.fixture(scope="session")
def reference_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real reference host (host.app under uvicorn, seeded demo estate) on a
    free loopback port, its date pinned to TODAY."""
    from host.app import create_app
    from host.config import load_host_settings
    from host.db import create_tables, make_engine
    from host.seed import seed_demo
    from host.server import HostServer

    db = tmp_path_factory.mktemp("host") / "host.sqlite3"
    settings = dataclasses.replace(load_host_settings(), database_url=f"sqlite:///{db}")
    engine = make_engine(settings.database_url)
    create_tables(engine)
    seed_demo(engine, settings, today=TODAY)
    server = HostServer(create_app(settings, engine, today=lambda: TODAY), "127.0.0.1", 0)
    server.start()
    yield server
    if server.running:
        server.stop()
    engine.dispose()
