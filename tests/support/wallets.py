"""A card holder at the kiosk, acting through the simulated devices: virtual CPU
cards in vpcd slots behind a real pcscd, the PIN pad on its pty, the bank card
on the magnetic reader. Nothing of the project's own is mocked."""
from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from tests.support.clocks import running_from
from tests.support.signing import KioskSigner

from kiosk.bootstrap import Kiosk
from kiosk.cards.epurse import EPurse
from common.epurse import TxnType, Wallet
from kiosk.devices.sim.cpu_card import VirtualCpuCard
from common.demo_cards import load_test_cards

IC = {c.holder: c for c in load_test_cards().ic_cards}
ZHANG = IC["张伟"]        # contact, PIN 123456
LI = IC["李娜"]           # contactless
WANG_BLOCKED = IC["王芳"]  # PIN blocked
LIU_LISTED = IC["刘洋"]    # blacklisted at the card centre
CHEN_FULL = IC["陈静"]     # purse nearly full


async def until(check: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await asyncio.to_thread(check):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def card(kiosk: Kiosk, serial: str) -> VirtualCpuCard:
    assert kiosk.sims is not None
    return kiosk.sims.ic_cards[serial]


async def insert(kiosk: Kiosk, serial: str, reader: str = "contact") -> None:
    assert kiosk.sims is not None and kiosk.wallet is not None
    # pcscd polls vpcd every 400 ms: a card taken out just before (by an earlier
    # test's teardown) must be seen gone first, or the new one is mistaken for it
    await until(lambda: not kiosk.wallet.card_present(reader), what=f"{reader} to be empty first")
    await asyncio.to_thread(kiosk.sims.ic_slots[reader].insert, card(kiosk, serial))
    await until(lambda: kiosk.wallet.card_present(reader), what=f"pcscd to see the card in {reader}")


async def remove(kiosk: Kiosk, reader: str = "contact") -> None:
    assert kiosk.sims is not None and kiosk.wallet is not None
    await asyncio.to_thread(kiosk.sims.ic_slots[reader].remove)
    await until(lambda: not kiosk.wallet.card_present(reader), what=f"pcscd to see {reader} empty")


def world(host, kiosk: Kiosk) -> int:   # type: ignore[no-untyped-def]
    """Every fen in the system: bank accounts, what the cards hold, the property ledger."""
    totals = host.totals()
    return totals["bank_balances_fen"] + on_cards(kiosk) + totals["ledger_fen"] + totals["wallet_ledger_fen"]


def on_cards(kiosk: Kiosk) -> int:
    """Fen on every card of the bench's wallet: what the cards themselves hold."""
    assert kiosk.sims is not None
    return sum(c.balance(Wallet.ED) + c.balance(Wallet.EP) for c in kiosk.sims.ic_cards.values())


async def type_card_pin(kiosk: Kiosk, pin: str) -> str:
    """The card PIN through the PIN pad's card-PIN mode, as the screens get it."""
    assert kiosk.wallet is not None and kiosk.sims is not None
    task = asyncio.ensure_future(kiosk.wallet.collect_card_pin(lambda key, n: None))
    assert await asyncio.to_thread(kiosk.sims.pinpad.wait_entering, 5), "PIN pad never started"
    await asyncio.to_thread(kiosk.sims.pinpad.type_pin, pin)
    return await task


# --- a second kiosk: a card settled away from the kiosk that began its transaction ---------
OTHER_KIOSK = "KIOSK-DEMO-02"
OTHER_TMK = bytes.fromhex("3B7A0C19E4D2F65A81C7B3E90D4F2A6C")   # a test key, only in the hosts of these tests


def start_host_with_other_kiosk(folder: Path, demo_db: Path, today: date) -> Any:
    """As tests/conftest.py's start_host, with OTHER_KIOSK in the host's fleet."""
    from host.app import create_app
    from host.config import load_host_settings
    from host.db import make_engine
    from host.server import HostServer

    db = folder / "host.sqlite3"
    shutil.copy(demo_db, db)
    settings = load_host_settings()
    settings = dataclasses.replace(settings, database_url=f"sqlite:///{db}",
                                   kiosks=(*settings.kiosks, (OTHER_KIOSK, OTHER_TMK)))
    engine = make_engine(settings.database_url)
    clock = running_from(today)
    server = HostServer(create_app(settings, engine, clock=clock), "127.0.0.1", 0)
    server.engine = engine
    server.start()
    from tests.support.bank8583 import start_front_end
    start_front_end(server, settings, engine, clock)
    return server


class _InHand:
    """The card answering in the calling thread (an ApduTransport): out of the slot."""

    def __init__(self, card: VirtualCpuCard) -> None:
        self.card = card

    def transmit(self, apdu: bytes) -> bytes:
        return self.card.process(apdu)


class OtherKiosk:
    """Kiosk B, presented with a card, settles its pending transactions as the
    wallet service does (cards/seen, the card's GET TRANSACTION PROVE, confirm
    or cancel): its own signed messages over real HTTP, the kiosk's terminal
    application on the card."""

    def __init__(self, url: str) -> None:
        self.signer = KioskSigner(url, OTHER_KIOSK, OTHER_TMK)
        assert self.signer.sign_on().status == 200

    def close(self) -> None:
        self.signer.close()

    def post(self, path: str, fields: dict[str, Any]) -> dict[str, Any]:
        reply = self.signer.post(f"/api/v1/cards/{path}", fields)
        assert reply.status == 200 and reply.mac_ok, reply.body
        return reply.json  # type: ignore[no-any-return]

    def present(self, card: VirtualCpuCard) -> dict[str, str]:
        """What it settled: {txn_id: completed | cancelled}."""
        pending = self.post("seen", {"serial": card.serial})["pending"]
        card.reset()
        purse = EPurse(_InHand(card))
        purse.select()
        settled = {}
        for p in pending:
            txn_id, kind = p["txn_id"], p["kind"]
            proof = purse.transaction_proof(TxnType(p["txn_type"]), p["counter"])
            if proof is None:
                settled[txn_id] = self.post(f"{kind}/cancel", {"txn_id": txn_id,
                                                               "reason": "card did not apply it"})["status"]
                continue
            mac2, tac = (part.hex().upper() for part in proof)
            fields = {"unload": {"mac3": tac}, "purchase": {"tac": tac, "mac2": mac2}}.get(kind, {"tac": tac})
            settled[txn_id] = self.post(f"{kind}/confirm", {"txn_id": txn_id, **fields})["status"]
        return settled
