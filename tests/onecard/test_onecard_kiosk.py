"""The one-card at the kiosk, end to end through the private pcscd and vpcd:
the kiosk's OneCardService (built by bootstrap) on the contactless reader,
the real host, the bank card on the simulated reader and PIN pad. A card
pulled at each step of a load and of a bill payment, then presented at
another kiosk: the bank, the property ledger, the mirror and the card add up
to the fen, and the mirror equals the card."""
from __future__ import annotations

import pytest

from common.money import Money
from common.onecard import TxnType
from host.onecard.registry import DEMO_ONECARDS
from kiosk.domain.errors import CardTorn, OneCardRefused
from tests.support.onecard_host import purse, virtual
from tests.support.onecard_kiosks import OneCardWorld
from tests.support.payments import GOOD, enter_pin, swipe
from tests.support.wallets import insert, remove

FUNDED, BLACK, ROLLED_BACK = DEMO_ONECARDS
PRESENT_APDUS = 14        # UID, then the purse's UID, steps 1 and 2 (4 + 4), blocks 4/5 (4)


async def tap(w: OneCardWorld, demo=FUNDED):  # type: ignore[no-untyped-def]
    card = virtual(demo)
    w.cards.append(card)
    assert w.kiosk.sims is not None
    await insert_card(w, card)
    return card


async def insert_card(w: OneCardWorld, card) -> None:  # type: ignore[no-untyped-def]
    w.kiosk.sims.ic_cards[card.serial] = card      # what tests.support.wallets.insert puts in the slot
    await insert(w.kiosk, card.serial, "contactless")


async def test_present_shows_balance_and_records_and_tells_a_one_card(onecard_world: OneCardWorld) -> None:
    w = onecard_world
    await tap(w)
    assert await w.kiosk.onecard.is_onecard_async()
    view = await w.kiosk.onecard.present()
    assert (view.uid, view.holder, view.house_no, view.balance, view.count) == (
        FUNDED.uid, FUNDED.holder, FUNDED.house_no, Money(FUNDED.balance_fen), FUNDED.count)
    assert view.records == () and view.settled == ()
    await remove(w.kiosk, "contactless")


async def test_load_and_bill_payment_end_to_end(onecard_world: OneCardWorld) -> None:
    w = onecard_world
    card = await tap(w)
    before = w.total()
    swiped = await swipe(w.kiosk, GOOD.track2)
    block = await enter_pin(w.kiosk, swiped, GOOD.pin, checked_by="card_centre")
    loaded = await w.kiosk.onecard.load(Money(20_000), swiped, block)
    assert loaded.approved and loaded.balance_after == Money(FUNDED.balance_fen + 20_000)
    assert loaded.reference.startswith("M")
    bill = await w.kiosk.bills.lookup(FUNDED.house_no)
    paid = await w.kiosk.onecard.pay_bill(bill)
    assert paid.approved and purse(card) == FUNDED.balance_fen + 20_000 - bill.total_due.fen
    assert w.mirror(FUNDED.uid) == (purse(card), FUNDED.count + 2)
    assert (await w.kiosk.bills.lookup(FUNDED.house_no)).total_due == Money(0)
    assert w.total() == before
    view = await w.kiosk.onecard.present()
    assert [(r.txn_type, r.amount.fen) for r in view.records] == [(TxnType.BILL_PAYMENT, bill.total_due.fen),
                                                                  (TxnType.LOAD, 20_000)]
    steps = w.kiosk.journal.onecard_steps(loaded.txn_id)
    assert [s for _, s, _ in steps] == [3, 4, 5, 6, 7] and {u for u, _, _ in steps} == {FUNDED.uid}
    await remove(w.kiosk, "contactless")


async def test_the_rolled_back_card_is_refused_at_the_kiosk(onecard_world: OneCardWorld) -> None:
    w = onecard_world
    await tap(w, ROLLED_BACK)
    with pytest.raises(OneCardRefused) as refused:
        await w.kiosk.onecard.present()
    assert refused.value.code == "mirror_mismatch" and refused.value.message_key == "error.onecard_needs_staff"
    await remove(w.kiosk, "contactless")


# (APDU of steps 3–7 the card is pulled at, applied or not): step 3's write of
# 24, step 4's value operation (both ways), step 5's restore, step 6's record,
# step 7's writes of 24 and 25
TEARS = [(2, True), (6, False), (6, True), (8, True), (11, True), (14, True), (15, True)]


@pytest.mark.parametrize("kind", ["load", "bill"])
@pytest.mark.parametrize("at, applied", TEARS)
async def test_a_tear_then_the_card_at_another_kiosk_adds_up_to_the_fen(
        onecard_world: OneCardWorld, kind: str, at: int, applied: bool) -> None:
    w = onecard_world
    card = await tap(w)
    before = w.total()
    slot = w.kiosk.sims.ic_slots["contactless"]
    if kind == "load":
        swiped = await swipe(w.kiosk, GOOD.track2)
        block = await enter_pin(w.kiosk, swiped, GOOD.pin, checked_by="card_centre")
        slot.tear_after(PRESENT_APDUS + at, applied=applied)
        operation = w.kiosk.onecard.load(Money(5_000), swiped, block)
    else:
        bill = await w.kiosk.bills.lookup(FUNDED.house_no)
        slot.tear_after(PRESENT_APDUS + at, applied=applied)
        operation = w.kiosk.onecard.pay_bill(bill)
    with pytest.raises(CardTorn):
        await operation
    [torn] = w.kiosk.journal.in_state("torn")
    assert w.txn_state(torn.txn_id) == "authorised"
    await remove(w.kiosk, "contactless")
    await insert_card(w, card)                       # at kiosk B now
    view = await w.other.present()
    assert view.settled == (torn.txn_id,)
    # pulled before the value operation reached the purse: never applied, cancelled (a load's bank debit
    # given back); after it: the card recovers it as applied and the host completes it
    expected = "cancelled" if (at, applied) in ((2, True), (6, False)) else "completed"
    assert w.txn_state(torn.txn_id) == expected
    assert w.mirror(FUNDED.uid) == (purse(card), view.count) and view.balance.fen == purse(card)
    assert w.total() == before
    assert w.other.journal.get(torn.txn_id).state == expected
    await remove(w.kiosk, "contactless")
