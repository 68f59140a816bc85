"""Fleet fixtures (a pytest plugin, registered in tests/conftest.py): a real host (host.app under uvicorn on loopback) on an
empty database of the test's backend (SQLite unless the module is marked
`pytest.mark.backends(*BACKENDS)`; tests/support/databases.py) with a three-kiosk
fleet, and kiosks that sign their messages."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.support.clocks import running_from, TODAY
from tests.support.fleet import FLEET_HOST_TOML, SignedKiosk, TMKS
from host.config import HostSettings, load_host_settings


@dataclass
class FleetHost:
    url: str
    settings: HostSettings
    engine: Engine
    server: Any
    app: Any
    kiosks: list[SignedKiosk]

    @property
    def fleet(self) -> Any:
        from host.console.mount import console_of
        return console_of(self.app).fleet

    def send_command(self, kiosk_ids: list[str], name: str, by: str = "test") -> list[Any]:
        """As the console does (the database first, then the in-memory queue)."""
        commands = self.fleet.commands.create(kiosk_ids, name, {}, by)
        self.fleet.commands.enqueue(commands)
        return commands

    def kiosk(self, kiosk_id: str = "KIOSK-A", *, signed_on: bool = True) -> SignedKiosk:
        kiosk = SignedKiosk(self.url, kiosk_id, TMKS[kiosk_id])
        self.kiosks.append(kiosk)
        if signed_on:
            kiosk.sign_on()
        return kiosk


def fleet_settings(folder: Path, **fleet: Any) -> HostSettings:
    (folder / "host.toml").write_text(FLEET_HOST_TOML, encoding="utf-8")
    settings = load_host_settings(folder / "host.toml")
    return dataclasses.replace(settings, fleet=dataclasses.replace(settings.fleet, **fleet)) if fleet else settings


class SpareDatabases:
    """The fleet hosts' empty databases. SQLite: a file copied when asked. PostgreSQL:
    the next one is copied (CREATE DATABASE … TEMPLATE: ~0.1 s idle, ~1 s on a busy
    machine) in a thread while the test that took this one runs -- a fleet test
    mostly waits on loopback HTTP -- so a test does not wait for its copy; a used
    one is dropped in that thread as well."""

    def __init__(self, databases: Any) -> None:
        from concurrent.futures import ThreadPoolExecutor
        self.databases = databases
        self._copier = ThreadPoolExecutor(1, thread_name_prefix="fleet-spare-db")
        self._next: Future[str] | None = None

    def _copy(self, backend: str, folder: Path) -> str:
        from tests.support.databases import _create_empty
        return str(self.databases.fresh(backend, "empty", _create_empty, folder))

    def take(self, backend: str, folder: Path) -> str:
        from tests.support.databases import SQLITE
        if backend == SQLITE:
            return self._copy(backend, folder)
        url = None
        if self._next is not None:
            try:
                url = self._next.result()
            except Exception:      # the server was restarting (tests/host/test_worker_faults.py): copy now
                url = None
            self._next = None
        url = url or self._copy(backend, folder)
        self._next = self._copier.submit(self._copy, backend, folder)
        return url

    def release(self, url: str) -> None:
        """Drop a used database in the copier's thread too (SQLite's file goes with tmp_path)."""
        if not url.startswith("sqlite"):
            self._copier.submit(self.databases.release, url)

    def close(self) -> None:
        """Before the server stops: the copy in flight finished and dropped, every drop done."""
        if self._next is not None:
            try:
                self.databases.release(self._next.result())
            except Exception:
                pass               # it was never made: nothing to drop
        self._copier.shutdown()


@pytest.fixture(scope="session")
def spare_databases(databases: Any) -> Iterator[SpareDatabases]:
    spares = SpareDatabases(databases)
    yield spares
    spares.close()


@pytest.fixture
def start_fleet_host(tmp_path: Path, spare_databases: SpareDatabases, backend: str) -> Iterator[Callable[..., FleetHost]]:
    from host.app import create_app
    from host.db import make_engine
    from host.server import HostServer
    started: list[FleetHost] = []
    # each host's database is disposed and released (PostgreSQL: dropped) once every
    # server has stopped; the ExitStack runs its callbacks last opened first
    with ExitStack() as databases_held:
        def start(**fleet: Any) -> FleetHost:
            folder = tmp_path / f"host{len(started)}"
            folder.mkdir()
            settings = fleet_settings(folder, **fleet)
            url = spare_databases.take(backend, folder)
            databases_held.callback(spare_databases.release, url)
            engine = make_engine(url)
            databases_held.callback(engine.dispose)
            app = create_app(settings, engine, clock=running_from(TODAY))
            server = HostServer(app)
            server.start()
            host = FleetHost(server.url, settings, engine, server, app, [])
            started.append(host)
            return host

        yield start
        for host in started:
            for kiosk in host.kiosks:
                kiosk.close()
            host.server.stop()


@pytest.fixture
def fleet_host(start_fleet_host: Callable[..., FleetHost]) -> FleetHost:
    return start_fleet_host()
