"""Fleet fixtures (a pytest plugin, registered in tests/conftest.py): a real host (host.app under uvicorn on loopback) on an
empty database of the test's backend (SQLite unless the module is marked
`pytest.mark.backends(*BACKENDS)`; tests/support/databases.py) with a three-kiosk
fleet, and kiosks that sign their messages."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
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


@pytest.fixture
def start_fleet_host(tmp_path: Path, databases: Any, backend: str) -> Iterator[Callable[..., FleetHost]]:
    from host.app import create_app
    from host.server import HostServer
    started: list[FleetHost] = []
    # the databases are disposed and dropped after every server has stopped (PostgreSQL drops
    # no database a connection is still open on); LIFO: the last opened goes first
    with ExitStack() as databases_held:
        def start(**fleet: Any) -> FleetHost:
            folder = tmp_path / f"host{len(started)}"
            folder.mkdir()
            settings = fleet_settings(folder, **fleet)
            engine = databases_held.enter_context(databases.empty(backend, folder))   # a copy of the empty template
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
