"""End-to-end payment helpers and fixtures: the real reference host (property + bank) on
loopback behind a breakable network link, and the kiosk's real service graph
(kiosk.bootstrap.build) with the real drivers on simulated devices (ptys, TCP).
Nothing of the project's own is mocked."""
from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from kiosk.bootstrap import Kiosk, build
from kiosk.config import DEMO_KIOSK_CONFIG, load_kiosk_settings
from kiosk.devices.ports import PinKey
from kiosk.devices.sim.network import FaultyLink
from common.demo_cards import DemoCard, load_test_cards
from common.bank_card import CardSwipe

WALLET = load_test_cards()
GOOD, LOW_BALANCE, EXPIRED, BLOCKED, LIMITED = WALLET.cards[:5]


@dataclass
class RunningHost:
    url: str
    engine: Engine
    server: Any

    def totals(self) -> dict[str, int]:
        from host.bank.journal import money_totals
        with self.engine.connect() as conn:
            return money_totals(conn)

    def bill(self, house: str) -> dict[str, Any]:
        """The host's own figures for `house` (what it answers a signed look-up)."""
        from tests.support.kiosks import host_bill
        return host_bill(self.server, house)

    def balance(self, pan: str) -> int:
        """The card's balance, its account found by the PAN's keyed hash (the demo config's
        [bank] pan_hash_key: tests/conftest.py runs the host on config/host.demo.toml)."""
        from sqlalchemy import text

        from host.bank.card_vault import pan_hash
        from host.config import load_host_settings
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT balance_fen FROM bank_accounts WHERE pan_hash = :h"),
                                    {"h": pan_hash(load_host_settings().bank_keys(), pan)}).scalar_one())

    def query(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))


@pytest.fixture
def host(tmp_path: Path, start_host) -> Iterator[RunningHost]:
    """A host of its own per test, on a fresh copy of the demo estate (tests/conftest.py)."""
    server = start_host(tmp_path)
    yield RunningHost(server.url, server.engine, server)
    server.bank.stop()
    if server.running:
        server.stop()
    server.engine.dispose()


class Links:
    """The kiosk's two links to the host's machine, each behind a breakable
    FaultyLink: the signed HTTP channel (`url`) and the ISO 8583 bank link
    (`bank_port`). `set_mode` breaks both alike (the estate network going
    down); `http` and `bank` break one."""

    def __init__(self, http_port: int, bank_port: int) -> None:
        self.http = FaultyLink("127.0.0.1", http_port)
        self.bank = FaultyLink("127.0.0.1", bank_port)
        self.url, self.bank_port = self.http.url, self.bank.port

    @property
    def mode(self) -> Any:
        return self.http.mode

    def set_mode(self, mode: Any) -> None:
        self.http.set_mode(mode)
        self.bank.set_mode(mode)

    def close(self) -> None:
        self.http.close()
        self.bank.close()


@pytest.fixture
def link(host: RunningHost) -> Iterator[Links]:
    links = Links(host.server.port, host.server.bank_port)
    yield links
    links.close()


def kiosk_settings(tmp_path: Path, url: str, timeout_s: float = 1.5, *, wallet: bool = False,
                   bank_port: int | None = None) -> Any:
    """The demo kiosk's settings against `url` (and the bank front-end on
    `bank_port`); without the IC wallet unless asked (bank-card payment tests
    need no card readers)."""
    settings = load_kiosk_settings(DEMO_KIOSK_CONFIG)
    bank = settings.bank
    if bank_port is not None:
        bank = dataclasses.replace(bank, port=bank_port, reply_timeout_s=timeout_s, connect_timeout_s=timeout_s)
    return dataclasses.replace(settings, host=dataclasses.replace(settings.host, url=url, timeout_s=timeout_s),
                               journal_path=str(tmp_path / "kiosk" / "journal.sqlite3"),
                               wallet=settings.wallet if wallet else None, bank=bank)


@pytest.fixture
async def wk(tmp_path: Path, link: Links, pcscd: Any) -> AsyncIterator[Kiosk]:
    """A kiosk with the IC wallet, its virtual cards on the session's pcscd."""
    kiosk = build(kiosk_settings(tmp_path, link.url, wallet=True, bank_port=link.bank_port), pcscd=pcscd,
                  with_fleet=False)
    kiosk.settler._first_backoff_s = 0.05
    await kiosk.start()
    yield kiosk
    await kiosk.aclose()


@pytest.fixture
async def kiosk(tmp_path: Path, link: Links) -> AsyncIterator[Kiosk]:
    kiosk = build(kiosk_settings(tmp_path, link.url, bank_port=link.bank_port), with_fleet=False)
    kiosk.settler._first_backoff_s = 0.05   # tests wait on settling, not on back-off
    await kiosk.start()
    yield kiosk
    await kiosk.aclose()


# --- a resident at the kiosk, acting through the simulated devices --------------------
async def swipe(kiosk: Kiosk, track2: str) -> CardSwipe:
    task = asyncio.ensure_future(kiosk.payments.read_card(10))
    assert await asyncio.to_thread(kiosk.sims.reader.wait_armed, 5), "reader never armed"
    assert kiosk.sims.reader.swipe(track2)
    return await task


async def enter_pin(kiosk: Kiosk, card: CardSwipe, keys: str | list[str],
                    events: list[tuple[PinKey, int]] | None = None, *, checked_by: str = "bank") -> bytes:
    """`keys`: a PIN typed then Enter, or a list of key names pressed in order;
    `checked_by`: "bank" (a bill: the link's PIK) or "card_centre" (a wallet load)."""
    log = events if events is not None else []
    task = asyncio.ensure_future(kiosk.payments.collect_pin(card, lambda k, n: log.append((k, n)),
                                                            checked_by=checked_by))  # type: ignore[arg-type]
    assert await asyncio.to_thread(kiosk.sims.pinpad.wait_entering, 5), "PIN pad never started"
    pad = kiosk.sims.pinpad
    if isinstance(keys, str):
        await asyncio.to_thread(pad.type_pin, keys)
    else:
        for key in keys:
            await asyncio.to_thread(pad.press, key)
    return await task


async def pay(kiosk: Kiosk, house: str, card: DemoCard, pin: str | None = None):
    bill = await kiosk.bills.lookup(house)
    swiped = await swipe(kiosk, card.track2)
    block = await enter_pin(kiosk, swiped, pin or card.pin)
    return bill, await kiosk.payments.pay(bill, swiped, block)


async def settled(kiosk: Kiosk, timeout_s: float = 10.0) -> None:
    """Wait until every reversal and backup copy has been acknowledged."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await kiosk.settler.settle_once():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("kiosk did not settle in time")
        await asyncio.sleep(0.05)


def money_is_conserved(before: dict[str, int], after: dict[str, int]) -> None:
    assert before["bank_balances_fen"] + before["journal_net_fen"] == \
        after["bank_balances_fen"] + after["journal_net_fen"]
    assert after["journal_net_fen"] == after["ledger_fen"]
    assert after["ledger_fen"] - after["ledger_late_fee_fen"] == after["bills_paid_by_card_fen"]
    assert after["bills_paid_fen"] - before["bills_paid_fen"] == \
        after["bills_paid_by_card_fen"] - before["bills_paid_by_card_fen"]


Check = Callable[[dict[str, int], dict[str, int]], None]


class CapturingLink(FaultyLink):
    """A FaultyLink that keeps every byte it forwards, each direction apart
    (`sent`: the kiosk's, `received`: the front-end's), for tests that look
    at what crosses the wire."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.sent: list[bytes] = []
        self.received: list[bytes] = []
        super().__init__(upstream_host, upstream_port)

    def _pump(self, src: Any, dst: Any, is_request: bool) -> None:
        super()._pump(_Recording(src, self.sent if is_request else self.received), dst, is_request)


class _Recording:
    def __init__(self, sock: Any, into: list[bytes]) -> None:
        self._sock, self._into = sock, into

    def recv(self, size: int) -> bytes:
        data: bytes = self._sock.recv(size)
        self._into.append(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def frames(stream: bytes) -> list[bytes]:
    """A captured direction split into its LEN-framed messages."""
    out = []
    while len(stream) >= 2:
        size = 2 + int.from_bytes(stream[:2], "big")
        out.append(stream[:size])
        stream = stream[size:]
    return out
