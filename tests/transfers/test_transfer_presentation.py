"""What a transfer left owed, settled at the card screens' presentations (docs/cards.md
"Faults"): kiosk A is built by bootstrap (its WalletService and OneCardService wired to
TransferService.owed_at_presentation); the transfer is torn at kiosk B (its own journal and
sign-on) and the destination walks to kiosk A's card screen. Through the private pcscd and
vpcd, the real host; the APDUs counted at the virtual card."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from common.epurse import Wallet
from kiosk.devices.sim.network import LinkMode
from kiosk.domain.errors import CardTorn
from tests.support.onecard_host import purse
from tests.support.onecard_kiosks import OneCardWorld
from tests.support.transfers import AMOUNT, FUNDED, cpu_and_onecard, host_transfer, kiosk_b, pull_cpu, total
from tests.support.wallets import LI, ZHANG, card, insert, remove


def money(w: OneCardWorld) -> tuple[int, int]:
    """The bank's accounts, and the cards plus what the host holds in flight between them."""
    return w.money()["bank_balances_fen"], total(w)


async def test_a_credit_owed_is_made_at_the_card_screen_at_another_kiosk_host_down_first(
        onecard_world: OneCardWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """LI pulled before its credit at kiosk B. At kiosk A's card screen with the host out of
    reach: the card is shown as it stands, the credit still owed. The host back: the next
    presentation makes the credit and shows it. Then, nothing owed: one `owed` message and
    not one APDU more than the wallet's own read."""
    w = onecard_world
    assert w.link is not None
    await insert(w.kiosk, ZHANG.serial, "contact")
    await insert(w.kiosk, LI.serial, "contactless")
    b = kiosk_b(w)
    src, dst = await b.card_in("contact"), await b.card_in("contactless")
    before = money(w)
    pull_cpu(w, LI.serial, 0x52, "before")
    with pytest.raises(CardTorn):
        await b.transfer(src, dst, AMOUNT)
    assert b.torn is not None
    txn_id = b.torn.txn_id
    assert b.awaited_card == b.torn.card
    await b.give_up_awaited()                  # the tear screen's "I don't have it"
    assert b.awaited_card is None
    await remove(w.kiosk, "contactless")
    await insert(w.kiosk, LI.serial, "contactless")
    assert host_transfer(w, txn_id) == "debited"
    assert dst.balance is not None and w.kiosk.wallet is not None
    wallet = w.kiosk.wallet

    w.link.set_mode(LinkMode.DOWN)
    shown = await wallet.present("contactless")
    assert (shown.serial, shown.ep_balance, shown.resolved) == (LI.serial, dst.balance, ())
    w.link.set_mode(LinkMode.UP)
    assert host_transfer(w, txn_id) == "debited" and money(w) == before

    view = await wallet.present("contactless")
    assert txn_id in view.resolved and view.ep_balance == dst.balance + AMOUNT
    assert host_transfer(w, txn_id) == "completed" and money(w) == before
    assert card(w.kiosk, LI.serial).balance(Wallet.EP) == dst.balance.fen + AMOUNT.fen
    with w.host.engine.connect() as conn:
        mirror = conn.execute(text("SELECT ep_fen FROM ic_cards WHERE serial = :s"), {"s": LI.serial}).scalar_one()
    assert mirror == dst.balance.fen + AMOUNT.fen

    # nothing owed now: the same APDUs as the wallet's read without the hook, one `owed` asked
    li, apdus = card(w.kiosk, LI.serial), []

    def count(apdu: bytes) -> None:
        apdus.append(apdu.hex().upper())
    li.fault = count
    hooks, wallet._at_presentation = wallet._at_presentation, []   # noqa: SLF001 - the read alone
    alone = await wallet.present("contactless")
    read_alone, apdus[:] = list(apdus), []
    wallet._at_presentation = hooks   # noqa: SLF001
    asked: list[tuple[Any, ...]] = []
    owed = w.kiosk.transfers.client.owed

    async def spy(*args: Any) -> Any:
        asked.append(args)
        return await owed(*args)
    monkeypatch.setattr(w.kiosk.transfers.client, "owed", spy)
    again = await wallet.present("contactless")
    li.fault = None
    assert apdus == read_alone and len(read_alone) > 0
    assert asked == [("cpu", LI.serial)] and again.resolved == () and again.ep_balance == alone.ep_balance
    await remove(w.kiosk, "contact")
    await remove(w.kiosk, "contactless")


async def test_a_credit_owed_to_a_onecard_is_made_at_the_onecard_screen_at_another_kiosk(
        onecard_world: OneCardWorld) -> None:
    """CPU → one-card at kiosk B, the one-card pulled before its credit's first write. Kiosk A's
    one-card screen (OneCardService.present): its presentation finishes the torn leg (nothing
    written), then the credit owed is made and the balance shown includes it."""
    w = onecard_world
    cpu_card, one_card = await cpu_and_onecard(w)
    one = w.cards[0]
    b = kiosk_b(w)
    before = money(w)

    def fault(apdu: bytes) -> str | None:
        if apdu[:4] == bytes.fromhex("FFD60018"):   # step 3's write of block 24: nothing written yet
            one.fault = None
            return "before"
        return None
    one.fault = fault
    with pytest.raises(CardTorn):
        await b.transfer(cpu_card, one_card, AMOUNT)
    assert b.torn is not None
    txn_id = b.torn.txn_id
    assert b.awaited_card == b.torn.card
    await b.give_up_awaited()                  # the tear screen's "I don't have it"
    assert b.awaited_card is None
    await remove(w.kiosk, "contactless")
    await insert(w.kiosk, one.serial, "contactless")
    assert w.kiosk.onecard is not None
    view = await w.kiosk.onecard.present()
    assert txn_id in view.settled and view.balance.fen == FUNDED.balance_fen + AMOUNT.fen == purse(one)
    assert host_transfer(w, txn_id) == "completed" and money(w) == before
    assert w.mirror(FUNDED.uid)[0] == purse(one)
    assert (await w.kiosk.onecard.present()).settled == ()
    await remove(w.kiosk, "contact")
    await remove(w.kiosk, "contactless")
