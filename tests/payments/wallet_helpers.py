"""A card holder at the kiosk, acting through the simulated devices: virtual CPU
cards in vpcd slots behind a real pcscd, the PIN pad on its pty, the bank card
on the magnetic reader. Nothing of the project's own is mocked."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from kiosk.bootstrap import Kiosk
from kiosk.cards.epurse_crypto import Wallet
from kiosk.devices.sim.cpu_card import VirtualCpuCard
from kiosk.devices.sim.test_cards import load_test_cards

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
