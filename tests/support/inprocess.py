"""The demo host in process (host.app.create_app behind Starlette's TestClient,
no socket) for the route-table and API-description tests: its route table
walked independently of host.openapi, a kiosk signing as a real one does
(tests/support/signing.py), and staff sessions of each role."""
from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient

from tests.support.clocks import TODAY, running_from
from tests.support.signing import KioskSigner

DEMO_KIOSK = "KIOSK-DEMO-01"
DEMO_TMK = bytes.fromhex("7DF0AC87953F75AECD424B5A3BBFF50B")   # the demo's published TMK (config/host.demo.toml)


@dataclass(frozen=True)
class RouteEntry:
    method: str
    path: str          # the template, mounts' prefixes included: /console/kiosks/{kiosk_id}
    endpoint: Any


def walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[RouteEntry]:
    """Every (method, path) an app answers, into mounts and the wrappers around
    their apps (the console's SecurityHeaders); anything it cannot read fails
    the walk, so no route hides from the tests that use it."""
    for route in routes:
        if isinstance(route, Route):
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                yield RouteEntry(method, prefix + route.path, route.endpoint)
        elif isinstance(route, Mount):
            app = route.app
            while not hasattr(app, "routes") and hasattr(app, "app"):   # middleware-like wrappers
                app = app.app
            if isinstance(app, StaticFiles):
                yield RouteEntry("GET", prefix + route.path + "/{path}", app)
            elif getattr(app, "routes", None) is not None:
                yield from walk(app.routes, prefix + route.path)
            else:
                raise AssertionError(f"cannot read the mount {prefix + route.path}: {app!r}")
        else:
            raise AssertionError(f"a route of a kind the table test does not know: {route!r}")


@dataclass
class InProcessHost:
    app: Any
    client: TestClient
    engine: Any
    settings: Any
    sessions: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)

    @property
    def console(self) -> Any:
        from host.console.mount import console_of
        return console_of(self.app)

    def kiosk(self, kiosk_id: str = DEMO_KIOSK, tmk: bytes = DEMO_TMK) -> KioskSigner:
        """A kiosk speaking through the in-process client (not yet signed on)."""
        return KioskSigner("", kiosk_id, tmk, http=self.client)

    def staff_session(self, role: str) -> tuple[str, str]:
        """(session cookie, CSRF token) of a staff account of `role` (one per role),
        made directly (a cheap password hash: the sign-in form is tests/console's)."""
        if role in self.sessions:
            return self.sessions[role]
        from host.console.accounts import Accounts
        from host.console.passwords import Cost

        console = self.console
        accounts = Accounts(self.engine, self.settings.console, clock=console.clock.wall, cost=Cost(n=2 ** 10, r=8, p=1))
        user = accounts.add(f"{role}-{len(role)}x", "a-long-enough-pass-123", role)
        token, session = console.sessions.create(user.id, "testclient")
        self.sessions[role] = (token, session.csrf_token)
        return self.sessions[role]


def start_in_process(demo_db: Path, folder: Path, url: str | None = None) -> InProcessHost:
    """The demo host on a fresh copy of the demo estate (demo accounts off: the
    sign-in page would hash three real passwords), or on the database at `url`
    (tests/conftest.py `demo_estate`: another backend's copy). Close `.client` when done."""
    from host.app import create_app
    from host.config import load_host_settings
    from host.db import make_engine

    if url is None:
        db = folder / "host.sqlite3"
        shutil.copy(demo_db, db)
        url = f"sqlite:///{db}"
    settings = load_host_settings()
    settings = dataclasses.replace(settings, database_url=url,
                                   console=dataclasses.replace(settings.console, demo_accounts=False))
    engine = make_engine(settings.database_url)
    app = create_app(settings, engine, clock=running_from(TODAY))
    client = TestClient(app, follow_redirects=False)
    client.__enter__()          # one event loop for every request (the fleet's background task lives on it)
    return InProcessHost(app, client, engine, settings)


def stop_in_process(host: InProcessHost) -> None:
    host.client.__exit__(None, None, None)
    host.engine.dispose()
