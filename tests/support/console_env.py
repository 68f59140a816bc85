"""Console fixtures (a pytest plugin, registered in tests/conftest.py: the
console's and the security tests' hosts share one template): the demo estate with a business day of card payments on
it (approved, declined, reversed, with the kiosk's backup copies), a real host
per test on a copy of it, staff accounts of each role, and a staff client
that signs in through the sign-in form as a browser does."""
from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.bank8583 import Terminal, start_front_end
from tests.support.clocks import running_from
from tests.support.databases import Base
from tests.support.fleet import SignedKiosk, TMKS
from sqlalchemy.engine import Engine

from host.config import HostSettings
from host.console.passwords import Cost

# Tests only: a cheap scrypt cost. Verification reads the cost stored with each
# hash, so the same code runs; test_passwords checks the production default.
FAST = Cost(n=2 ** 10, r=8, p=1)
USERS = {"boss": ("boss-pass-123", "admin"), "duty": ("duty-pass-123", "operator"),
         "look": ("look-pass-123", "viewer")}
DEMO_KIOSK = "KIOSK-DEMO-01"
DEMO_TMK = bytes.fromhex("7DF0AC87953F75AECD424B5A3BBFF50B")
KIOSKS = {DEMO_KIOSK: DEMO_TMK, **TMKS}


def console_settings(**console: Any) -> HostSettings:
    """The demo host's settings with a fleet of four and (unless asked) no demo accounts."""
    from host.config import load_host_settings
    settings = load_host_settings()
    settings = dataclasses.replace(settings, kiosks=tuple(KIOSKS.items()))
    console.setdefault("demo_accounts", False)
    return dataclasses.replace(settings, console=dataclasses.replace(settings.console, **console))


@dataclass(frozen=True)
class Payments:
    """What the template day holds (business day TODAY)."""
    approved: str          # txn_id of an approved payment, 3-2-1202, card ending 0017 (its copy names the RRN)
    declined: str          # insufficient funds, 2-2-902: the bank's key, terminal/batch/STAN (no copy names it)
    reversed: str          # approved then reversed, 2-1-601: the bank's key
    approved_fen: int
    reversed_fen: int


def _periods(bill: dict[str, Any]) -> list[str]:
    periods = [a["period"] for a in bill["arrears"]]
    if bill["current"] and not bill["current"]["paid"]:
        periods.append(bill["current"]["period"])
    return periods


@pytest.fixture(scope="session")
def console_builds(demo_db: Path, today: date) -> dict[str, Any]:
    """How the console template is made (`build`, for tests/support/databases.py),
    and the payments it made (`payments`, once built)."""
    made: dict[str, Any] = {}

    def build(url: str) -> None:
        made["payments"] = _build_console_template(url, demo_db, today)
    made["build"] = build
    return made


@pytest.fixture
def console_template(console_builds: dict[str, Any], databases: Any, backend: str) -> tuple[Any, Payments]:
    """The demo estate after a business day of payments, on the test's backend
    (built once per backend and session): the template and its payments."""
    template = databases.template(backend, "console", console_builds["build"])
    return template, console_builds["payments"]


def _build_console_template(url: str, demo_db: Path, today: date) -> Payments:
    from host.app import create_app
    from host.billing import household_bill
    from host.db import make_engine
    from host.schema import create_tables
    from host.seed import seed_demo
    from host.server import HostServer
    from common.demo_cards import load_test_cards

    cards = {c.pan: c for c in load_test_cards().cards}
    good, low = cards["6222021000000000017"], cards["6217002000000002"]
    settings = dataclasses.replace(console_settings(), database_url=url)
    if url.startswith("sqlite:///"):
        shutil.copy(demo_db, url.removeprefix("sqlite:///"))
        engine = make_engine(settings.database_url)
    else:                                   # the demo estate, seeded as demo_db is
        engine = make_engine(settings.database_url)
        create_tables(engine)
        seed_demo(engine, settings, today=today)
    clock = running_from(today)
    server = HostServer(create_app(settings, engine, clock=clock))
    server.start()
    start_front_end(server, settings, engine, clock)
    kiosk = SignedKiosk(server.url, DEMO_KIOSK, DEMO_TMK)
    # the demo kiosk's bank link (its terminal KIOSK001, under its TMK): bill payments go over ISO 8583
    link = Terminal(server.bank_port, tmk=DEMO_TMK)
    try:
        kiosk.sign_on()
        assert link.sign_on().message.fields[39] == "00"

        def pay(txn_id: str, house: str, card: Any) -> tuple[int, dict[str, str]]:
            with engine.connect() as conn:
                bill = household_bill(conn, house, today, settings)
            reply = link.purchase(card.track2, card.pin, card.pan, bill["total_due_fen"],
                                  bill_ref=f"H={house};P={','.join(_periods(bill))}").message.fields
            return bill["total_due_fen"], {"txn_id": txn_id, "code": str(reply[39]), "stan": str(reply[11]),
                                           "reference": str(reply.get(37, "")).strip(),
                                           "auth_code": str(reply.get(38, "")).strip()}

        approved_fen, a = pay(f"{DEMO_KIOSK}-20261121103000-AAAAAA", "3-2-1202", good)
        _, d = pay(f"{DEMO_KIOSK}-20261121104000-BBBBBB", "2-2-902", low)
        reversed_fen, r = pay(f"{DEMO_KIOSK}-20261121105000-CCCCCC", "2-1-601", good)
        assert (a["code"], d["code"], r["code"]) == ("00", "51", "00")
        assert link.reversal(r["stan"], reversed_fen, "06", f"{today:%m%d}").message.fields[39] == "00"
        for txn_id, reply, result, amount in ((a["txn_id"], a, "approved", approved_fen),
                                              (d["txn_id"], d, "declined", 0),
                                              (r["txn_id"], r, "reversed", reversed_fen)):
            # as the kiosk copies them: the reference (RRN) of an approved payment only
            copy = {"txn_id": txn_id, "house_no": "", "amount_fen": amount, "masked_pan": "622202******0017",
                    "result": result, "reference": reply["reference"] if result == "approved" else "",
                    "auth_code": reply["auth_code"] if result == "approved" else "", "at": "2026-11-21T10:30:00"}
            assert kiosk.backup(copy).status == 200
    finally:
        kiosk.close()
        server.bank.stop()
        server.stop()
        engine.dispose()
    return Payments(a["txn_id"], f"KIOSK001/{link.batch}/{d['stan']}", f"KIOSK001/{link.batch}/{r['stan']}",
                    approved_fen, reversed_fen)


class StaffClient:
    """A browser's part, for API tests: cookies, the sign-in form's token, and
    the CSRF token every page carries."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10, follow_redirects=False)
        self.csrf = ""

    def close(self) -> None:
        self.http.close()

    def login_page(self) -> httpx.Response:
        return self.http.get("/console/login")

    def sign_in(self, username: str, password: str, *, next_: str = "/console/") -> httpx.Response:
        page = self.login_page()
        token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        reply = self.http.post("/console/login", data={"login_token": token, "username": username,
                                                       "password": password, "next": next_})
        if reply.status_code == 303:
            self.refresh_csrf()
        return reply

    def refresh_csrf(self) -> str:
        page = self.http.get("/console/")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        self.csrf = found.group(1) if found else ""
        return self.csrf

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True,
             **kwargs: Any) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf
        return self.http.post(path, data=form, **kwargs)


@dataclass
class ConsoleHost:
    url: str
    settings: HostSettings
    engine: Engine
    server: Any
    app: Any
    payments: Payments
    clients: list[StaffClient]
    kiosks: list[SignedKiosk]
    clock: Any = None

    def link(self) -> Terminal:
        """The demo kiosk's terminal (KIOSK001, its TMK) on the host's ISO 8583
        front-end, signed on; the front-end starts on first use."""
        if getattr(self.server, "bank", None) is None:
            start_front_end(self.server, self.settings, self.engine, self.clock)
        # the template's payments used KIOSK001's first STANs of this batch: start past them
        terminal = Terminal(self.server.bank_port, tmk=DEMO_TMK, stan=1000)
        assert terminal.sign_on().message.fields[39] == "00"
        return terminal

    @property
    def console(self) -> Any:
        from host.console.mount import console_of
        return console_of(self.app)

    @property
    def fleet(self) -> Any:
        return self.console.fleet

    def staff(self, username: str | None = None) -> StaffClient:
        client = StaffClient(self.url)
        self.clients.append(client)
        if username is not None:
            assert client.sign_in(username, USERS[username][0]).status_code == 303
        return client

    def kiosk(self, kiosk_id: str = "KIOSK-A") -> SignedKiosk:
        from sqlalchemy import select

        from host.schema.bank import kiosks
        with self.engine.connect() as conn:        # the template's payments used the demo kiosk's counters
            last = conn.execute(select(kiosks.c.last_counter).where(kiosks.c.kiosk_id == kiosk_id)).scalar()
        kiosk = SignedKiosk(self.url, kiosk_id, KIOSKS[kiosk_id], counter=last or 0)
        kiosk.sign_on()
        self.kiosks.append(kiosk)
        return kiosk

    def audit(self, action: str) -> list[Any]:
        entries, _ = self.console.audit.page(action=action)
        return entries


@pytest.fixture
def start_console_host(console_template: tuple[Any, Payments], console_builds: dict[str, Any], databases: Any,
                       backend: str, tmp_path: Path, today: date) -> Iterator[Callable[..., ConsoleHost]]:
    from host.app import create_app
    from host.console.accounts import Accounts
    from host.db import make_engine
    from host.server import HostServer
    started: list[ConsoleHost] = []

    def start(fleet: dict[str, Any] | None = None, users: bool = True, template: Base | None = None,
              **console: Any) -> ConsoleHost:
        """`template`: a module's own template (key, build) on top of the console's, for a
        day of its own that every test starts from (built once per backend, not per test)."""
        _, payments = console_template
        base: Base = ("console", console_builds["build"])
        key, build = template or base
        url = databases.fresh(backend, key, build, tmp_path, f"host{len(started)}.sqlite3",
                              base if template else None)
        settings = dataclasses.replace(console_settings(**console), database_url=url)
        if fleet:
            settings = dataclasses.replace(settings, fleet=dataclasses.replace(settings.fleet, **fleet))
        engine = make_engine(settings.database_url)
        clock = running_from(today)
        app = create_app(settings, engine, clock=clock)
        host = ConsoleHost("", settings, engine, None, app, payments, [], [], clock)
        # FAST for the demo accounts too (a host without staff): three at the production
        # cost took ~6 s of a test about whether they exist
        host.console.accounts = accounts = Accounts(engine, settings.console, cost=FAST,
                                                    clock=host.console.clock.wall)
        if users:
            for name, (password, role) in USERS.items():
                accounts.add(name, password, role, display_name=f"{role} {name}", by="test")
        host.server = HostServer(app)
        host.server.start()
        host.url = host.server.url
        started.append(host)
        return host

    yield start
    for host in started:
        for client in host.clients:
            client.close()
        for kiosk in host.kiosks:
            kiosk.close()
        if getattr(host.server, "bank", None) is not None:
            host.server.bank.stop()
        host.server.stop()
        host.engine.dispose()
        databases.release(host.settings.database_url)


@contextmanager
def building_on(url: str, today: date, payments: Payments) -> Iterator[ConsoleHost]:
    """A host (no staff) on a template being built, for a `template` build to drive
    as the kiosks would; stopped, its kiosks closed and its engine disposed after
    (PostgreSQL copies a template only while nobody is connected to it)."""
    from host.app import create_app
    from host.db import make_engine
    from host.server import HostServer
    settings = dataclasses.replace(console_settings(), database_url=url)
    engine = make_engine(url)
    clock = running_from(today)
    app = create_app(settings, engine, clock=clock)
    host = ConsoleHost("", settings, engine, HostServer(app), app, payments, [], [], clock)
    host.server.start()
    host.url = host.server.url
    try:
        yield host
    finally:
        for kiosk in host.kiosks:
            kiosk.close()
        host.server.stop()
        engine.dispose()


@pytest.fixture
def console_host(start_console_host: Callable[..., ConsoleHost]) -> ConsoleHost:
    return start_console_host()
