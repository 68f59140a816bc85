"""Puts remote monitoring into the host app: the kiosks' heartbeat endpoint
(/api/v1/fleet/heartbeat) and the staff console (/console/), sharing one Fleet."""
from __future__ import annotations

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from host.config import HostSettings
from host.console.pages import console_routes
from host.console.throttles import SharedSignInGuard
from host.console.web import PREFIX, Console, SecurityHeaders
from host.fleet.api import fleet_routes
from host.fleet.service import Fleet
from common.clock import Clock
from host.workers import WorkerRole


def management_routes(settings: HostSettings, engine: Engine, clock: Clock,
                      worker: WorkerRole | None = None) -> list[BaseRoute]:
    fleet = Fleet(settings, engine, clock=clock, worker=worker)
    console = Console(settings, engine, fleet, clock=clock)
    if worker is not None:     # several workers: the lockouts and back-off in the database
        console.accounts.guard = SharedSignInGuard(engine, settings.console, console.accounts.clock)
    app = Starlette(routes=console_routes(console))
    app.state.console = console
    return [*fleet_routes(fleet), Mount(PREFIX, app=SecurityHeaders(app), name="console")]


def console_of(app: Starlette) -> Console:
    """The Console (and through it the Fleet) of a host app built by host.app.create_app."""
    for route in app.routes:
        if isinstance(route, Mount) and route.name == "console":
            headers = route.app      # management_routes mounts SecurityHeaders(Starlette)
            assert isinstance(headers, SecurityHeaders) and isinstance(headers.app, Starlette)
            return headers.app.state.console
    raise LookupError("this app has no console")
