"""The unpaid-fee blacklist's life cycle at the kiosk, end to end through the
private pcscd and vpcd (docs/onecard.md "Unpaid-fee blacklist"): the host
lists 3-2-1202 (B1C20002), the kiosk downloads it on a pass of its settling
task, the card is refused with the reason, the arrears are paid by bank card
over the bank link, the listing is lifted at once and the card's black flag
cleared in the same presentation; the money adds up to the fen."""
from __future__ import annotations

import asyncio
from datetime import datetime, time

import pytest
from sqlalchemy import text

from common.money import Money
from common.onecard import BLACK_LISTED, BLACK_OK, DEMO_MAP
from common.onecard_blocks import PublicInfo
from host.billing import due_date, period_of, shift_period
from host.config import load_host_settings
from host.db import write_transaction
from host.unpaid_fees import refresh
from kiosk.domain.errors import HostUnavailable
from kiosk.services.onecard_blacklist import UnblockOutcome, UnpaidFeeRefusal
from kiosk.services.onecard_card import OneCardView
from tests.support.clocks import TODAY
from tests.support.onecard_host import BLACK, FUNDED
from tests.support.onecard_kiosks import OneCardWorld
from tests.support.payments import GOOD, enter_pin, swipe
from tests.support.wallets import insert, remove
from tests.support.onecard_host import virtual


# the demo estate (seeded at TODAY) owes 3-2-1202's first billed month, three months back
SINCE = due_date(shift_period(period_of(TODAY), -3), load_host_settings()).isoformat()


def _list_on_host(w: OneCardWorld) -> int:
    with write_transaction(w.host.engine) as conn:
        return refresh(conn, as_of=TODAY, unpaid_days=30, at=datetime.combine(TODAY, time(8))).version


def _sums(w: OneCardWorld) -> tuple[int, int]:
    with w.host.engine.connect() as conn:
        bank = int(conn.execute(text("SELECT SUM(balance_fen) FROM bank_accounts")).scalar_one())
        ledger = int(conn.execute(text("SELECT COALESCE(SUM(amount_fen), 0) FROM property_ledger")).scalar_one())
    return bank, ledger


def _black_flag(card) -> int:  # type: ignore[no-untyped-def]
    return PublicInfo.decode(card.block(DEMO_MAP.public_block)).black


async def _tap(w: OneCardWorld, demo):  # type: ignore[no-untyped-def]
    card = virtual(demo)
    w.cards.append(card)
    w.kiosk.sims.ic_cards[card.serial] = card     # type: ignore[union-attr]
    await insert(w.kiosk, card.serial, "contactless")
    return card


async def test_the_settling_task_downloads_the_list(onecard_world: OneCardWorld) -> None:
    w = onecard_world
    service, journal = w.kiosk.onecard_blacklist, w.kiosk.journal
    assert service is not None and journal is not None and w.kiosk.settler is not None
    version = _list_on_host(w)
    w.kiosk.settler.wake()
    for _ in range(200):                    # a pass of the settling task (woken, not its idle minute)
        if journal.onecard_blacklist_version() == version:
            break
        await asyncio.sleep(0.01)
    assert journal.onecard_blacklist_version() == version
    listed = journal.onecard_listed(BLACK.uid)
    assert listed is not None and (listed.house_no, listed.since) == (BLACK.house_no, SINCE)
    assert journal.onecard_listed(FUNDED.uid) is None
    assert await service.refresh() == version          # nothing new: the same version, no change


async def test_a_listed_card_is_refused_with_the_reason_then_pays_and_is_released(
        onecard_world: OneCardWorld) -> None:
    w = onecard_world
    service = w.kiosk.onecard_blacklist
    assert service is not None
    _list_on_host(w)
    await service.refresh()
    card = await _tap(w, BLACK)
    assert _black_flag(card) == BLACK_LISTED

    refusal = await service.present()
    assert isinstance(refusal, UnpaidFeeRefusal)
    assert (refusal.uid, refusal.house_no, refusal.since) == (BLACK.uid, BLACK.house_no, SINCE)
    assert refusal.owed.fen > 0 and refusal.bill is not None and refusal.bill.total_due.fen >= refusal.owed.fen
    assert refusal.values == {"since": SINCE, "amount": str(refusal.owed)}

    bank_before, ledger_before = _sums(w)
    swiped = await swipe(w.kiosk, GOOD.track2)
    block = await enter_pin(w.kiosk, swiped, GOOD.pin)
    outcome = await service.pay_arrears_and_unblock(swiped, block)

    assert outcome.payment is not None and outcome.payment.approved
    assert outcome.payment.amount == refusal.bill.total_due
    assert outcome.lifted and outcome.card_cleared and outcome.message_key == "onecard.unblocked"
    assert outcome.view is not None and outcome.view.uid == BLACK.uid
    assert outcome.view.balance == Money(BLACK.balance_fen)          # the purse untouched
    assert _black_flag(card) == BLACK_OK                              # 04 -> 00 on the card, same tap
    bank_after, ledger_after = _sums(w)
    assert bank_before - bank_after == refusal.bill.total_due.fen     # to the fen
    assert ledger_after - ledger_before == refusal.bill.total_due.fen
    with w.host.engine.connect() as conn:
        assert not conn.execute(text("SELECT black FROM onecards WHERE uid = :u"), {"u": BLACK.uid}).scalar_one()
    assert w.kiosk.journal is not None and w.kiosk.journal.onecard_listed(BLACK.uid) is None
    await remove(w.kiosk, "contactless")


async def test_a_card_still_listed_gets_no_unblock_key(onecard_world: OneCardWorld) -> None:
    w = onecard_world
    service = w.kiosk.onecard_blacklist
    assert service is not None
    _list_on_host(w)
    card = await _tap(w, BLACK)
    outcome = await service.unblock()
    assert (outcome.lifted, outcome.card_cleared, outcome.view) == (False, False, None)
    assert _black_flag(card) == BLACK_LISTED
    await remove(w.kiosk, "contactless")


async def _paid_then_pulled(w: OneCardWorld) -> None:
    """The bill payment goes through, then the card leaves before its flag is written."""
    service = w.kiosk.onecard_blacklist
    assert service is not None
    pay = service.payments.pay

    async def pay_then_pull(*args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = await pay(*args, **kwargs)
        await remove(w.kiosk, "contactless")
        return outcome

    service.payments.pay = pay_then_pull  # type: ignore[method-assign]


async def test_a_card_pulled_before_its_flag_is_cleared_is_released_at_the_next_presentation(
        onecard_world: OneCardWorld) -> None:
    w = onecard_world
    service = w.kiosk.onecard_blacklist
    assert service is not None
    _list_on_host(w)
    card = await _tap(w, BLACK)
    await _paid_then_pulled(w)
    swiped = await swipe(w.kiosk, GOOD.track2)
    outcome = await service.pay_arrears_and_unblock(swiped, await enter_pin(w.kiosk, swiped, GOOD.pin))
    assert outcome.payment is not None and outcome.payment.approved        # the arrears are paid
    assert (outcome.card_cleared, outcome.view, outcome.message_key) == (False, None, "onecard.unblock_pending")
    assert _black_flag(card) == BLACK_LISTED                               # the card left first
    with w.host.engine.connect() as conn:                                  # but the host no longer lists it
        assert not conn.execute(text("SELECT black FROM onecards WHERE uid = :u"), {"u": BLACK.uid}).scalar_one()

    await insert(w.kiosk, card.serial, "contactless")                      # the next tap
    answer = await service.present()
    assert isinstance(answer, UnblockOutcome) and answer.card_cleared and answer.view is not None
    assert answer.view.uid == BLACK.uid and _black_flag(card) == BLACK_OK
    assert isinstance(await service.present(), OneCardView)                # and from then on, simply accepted
    await remove(w.kiosk, "contactless")


async def test_a_declined_payment_leaves_the_card_listed_and_nothing_moved(onecard_world: OneCardWorld) -> None:
    w = onecard_world
    service = w.kiosk.onecard_blacklist
    assert service is not None
    _list_on_host(w)
    card = await _tap(w, BLACK)
    before = _sums(w)
    swiped = await swipe(w.kiosk, GOOD.track2)
    outcome = await service.pay_arrears_and_unblock(swiped, await enter_pin(w.kiosk, swiped, "999999"))
    assert outcome.payment is not None and outcome.payment.decline_code == "wrong_pin"
    assert (outcome.lifted, outcome.card_cleared, outcome.view) == (False, False, None)
    assert outcome.message_key == "onecard.arrears_declined"
    assert _sums(w) == before and _black_flag(card) == BLACK_LISTED
    assert isinstance(await service.present(), UnpaidFeeRefusal)           # still refused, with why
    await remove(w.kiosk, "contactless")


async def test_the_bank_link_down_pays_nothing_and_the_card_stays_listed(onecard_world: OneCardWorld) -> None:
    w = onecard_world
    service = w.kiosk.onecard_blacklist
    assert service is not None
    _list_on_host(w)
    card = await _tap(w, BLACK)
    before = _sums(w)
    swiped = await swipe(w.kiosk, GOOD.track2)
    block = await enter_pin(w.kiosk, swiped, GOOD.pin)
    w.host.bank.stop()                                                     # the bank's front-end gone
    with pytest.raises(HostUnavailable):
        await service.pay_arrears_and_unblock(swiped, block)
    assert _sums(w) == before and _black_flag(card) == BLACK_LISTED
    await remove(w.kiosk, "contactless")
