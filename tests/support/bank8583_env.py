"""A reference front-end on loopback for tests/host/test_bank8583_*.py: one
per module and backend (SQLite, PostgreSQL), on a database holding only its
cards (`CARDS`), with a hand-moved clock and a short read timeout."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from common.bank_card import luhn_ok
from common.clock import ManualClock
from common.demo_cards import DemoCard
from common.money import Money
from tests.support.bank8583 import TMK, FrontEndThread, Terminal
from tests.support.databases import POSTGRESQL, Databases
from tests.support.host_env import TARIFFS_AND_BANK

NOW = datetime(2026, 12, 5, 10, 15, 30)   # the worked examples' purchase
READ_TIMEOUT_S = 0.3
MAX_FRAME = 1024
TERMINALS = [f"KIOSK{n:03d}" for n in range(1, 21)]


def _pan(n: int) -> str:
    body = f"622202{n:012d}"
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


def _card(n: int, pin: str, *, yuan: str = "5000.00", limit: str = "20000.00", expiry: str = "3012",
          status: str = "active") -> DemoCard:
    return DemoCard(name=f"card {n}", pan=_pan(n), expiry=expiry, service_code="101", pin=pin,
                    balance=Money.parse(yuan), daily_limit=Money.parse(limit), status=status)


EXAMPLE = DemoCard(name="the examples' card", pan="6222020000000000017", expiry="3012", service_code="101",
                   pin="123456", balance=Money(500_000), daily_limit=Money(2_000_000), status="active")
CARDS = {
    "example": EXAMPLE,
    "locks": _card(2, "975318"),
    "limit": _card(3, "864209", limit="500.00"),
    "expired": _card(4, "531864", expiry="2312"),
    "poor": _card(5, "246813", yuan="50.00"),
    "blocked": _card(6, "135792", status="blocked"),
    "busy": _card(7, "918273", yuan="100000.00", limit="100000.00"),
    "pin": _card(8, "192837"),
    "settle": _card(9, "283746"),
    "reverse": _card(10, "374655"),
}
UNKNOWN = _card(99, "111111")     # a good card number the bank has no account for


def host_toml() -> str:
    terminals = "\n".join(f'{t} = "KIOSK-TEST-01"' for t in TERMINALS)
    return f"""
demo = true
[host]
estate_name = "翠湖花园"
listen_port = 0
{TARIFFS_AND_BANK}
link_port = 0
link_read_timeout_s = {READ_TIMEOUT_S}
link_max_frame = {MAX_FRAME}

[bank.terminals]
{terminals}

[kiosks."KIOSK-TEST-01"]
tmk = "{TMK.hex().upper()}"
"""


@dataclass
class Link:
    backend: str
    engine: Engine
    clock: ManualClock
    thread: FrontEndThread
    url: str
    _used: int = 0

    @property
    def port(self) -> int:
        return self.thread.port

    def terminal(self, *, signed_on: bool = True) -> Terminal:
        """A terminal of its own for each test (its session, batch, STANs)."""
        self._used += 1
        terminal = Terminal(self.port, terminal_id=TERMINALS[self._used])
        if signed_on:
            assert terminal.sign_on().message.fields[39] == "00"
        return terminal

    def balance(self, name: str) -> int:
        from host.bank.card_vault import pan_hash
        from host.schema.bank import bank_accounts

        with self.engine.connect() as conn:
            return int(conn.execute(select(bank_accounts.c.balance_fen).where(
                bank_accounts.c.pan_hash == pan_hash(KEYS[0], CARDS[name].pan))).scalar_one())

    def pin_tries(self, name: str) -> int:
        from host.bank.card_vault import pan_hash
        from host.schema.bank import bank_accounts

        with self.engine.connect() as conn:
            return int(conn.execute(select(bank_accounts.c.pin_tries).where(
                bank_accounts.c.pan_hash == pan_hash(KEYS[0], CARDS[name].pan))).scalar_one())

    def money(self) -> tuple[int, int]:
        """(Σ account balances, Σ approved purchases of the link's journal)."""
        from host.schema.bank import bank_accounts, bank_link_journal

        with self.engine.connect() as conn:
            balances = conn.execute(select(func.sum(bank_accounts.c.balance_fen))).scalar_one()
            spent = conn.execute(select(func.coalesce(func.sum(bank_link_journal.c.amount_fen), 0)).where(
                bank_link_journal.c.kind == "purchase", bank_link_journal.c.state == "approved")).scalar_one()
        return int(balances), int(spent)


KEYS: list[Any] = []


def start_link(backend: str, databases: Databases, folder: Path) -> Iterator[Link]:
    from host.bank.accounts import seed_accounts
    from host.bank.frontend import BankFrontEnd
    from host.config import load_host_settings
    from host.db import make_engine, write_transaction
    from host.schema import create_tables

    toml = folder / "host.toml"
    toml.write_text(host_toml(), encoding="utf-8")
    settings = load_host_settings(toml)
    KEYS[:] = [settings.bank_keys()]
    if backend == POSTGRESQL:
        url = databases.pg.url(databases.pg.create_database("bank8583"))
    else:
        url = f"sqlite:///{folder / 'host.sqlite3'}"
    settings = dataclasses.replace(settings, database_url=url)
    engine = make_engine(url)
    create_tables(engine)
    with write_transaction(engine) as conn:
        seed_accounts(conn, tuple(CARDS.values()), settings.bank_keys())
    clock = ManualClock(NOW)
    assert settings.bank_link is not None
    thread = FrontEndThread(BankFrontEnd(settings, settings.bank_link, engine, clock)).start()
    try:
        yield Link(backend, engine, clock, thread, url)
    finally:
        thread.stop()
        engine.dispose()
        databases.release(url)


def link_fixture(request: pytest.FixtureRequest, databases: Databases,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Link]:
    backend = str(request.param)
    if backend == POSTGRESQL:
        databases.pg     # noqa: B018 - starts the server, or skips with the reason
    yield from start_link(backend, databases, tmp_path_factory.mktemp(f"bank8583-{backend}"))
