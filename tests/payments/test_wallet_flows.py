"""IC wallet end to end (docs/cards.md): the kiosk's wallet service, the real
pyscard adapter through a real pcscd and vpcd to virtual CPU cards, the real
PIN pad and card reader drivers on their ptys, the real host over loopback.

Money is counted where it really is: bank balances + what the cards hold +
the property ledger, to the fen, before and after every scenario."""
from __future__ import annotations

import asyncio

import pytest
from tests.support.payments import enter_pin, GOOD, kiosk_settings, LOW_BALANCE, settled, swipe
from tests.support.wallets import (card, CHEN_FULL, insert, LI, LIU_LISTED, remove, type_card_pin, until,
                                   WANG_BLOCKED, world, ZHANG)

from common.epurse import TxnType, Wallet
from kiosk.bootstrap import build
from kiosk.devices.sim.network import LinkMode
from kiosk.domain.errors import (
    CardBlacklisted,
    CardPinBlocked,
    CardPinWrong,
    HostUnavailable,
    OutcomeUnknown,
    PaymentsSuspended,
    WalletInsufficient,
    WalletLimitExceeded,
)
from common.money import Money

HOUSE = "2-1-601"   # the current month only, in the demo estate


async def bank_card(kiosk, demo=GOOD, pin=None):
    swiped = await swipe(kiosk, demo.track2)
    return swiped, await enter_pin(kiosk, swiped, pin or demo.pin, checked_by="card_centre")


async def test_a_closed_kiosk_leaves_no_pc_sc_context_behind(tmp_path, link, pcscd):
    """Each reader's PC/SC context is a pcscd thread until it is released, and
    pcscd refuses every client past 200: CI once went red half-way through the
    suite with "Access denied" because every kiosk a test built kept two."""
    before = pcscd.threads()
    kiosk = build(kiosk_settings(tmp_path, link.url, wallet=True, bank_port=link.bank_port), pcscd=pcscd,
                  with_fleet=False)
    await kiosk.start()
    for reader in ("contact", "contactless"):
        assert not await asyncio.to_thread(kiosk.wallet.card_present, reader)
    assert pcscd.threads() >= before + 2      # the count sees the readers' contexts
    await kiosk.aclose()
    await until(lambda: pcscd.threads() <= before, what="pcscd's threads for the kiosk's contexts to end")


async def test_presenting_a_card_shows_balances_history_and_holder(wk, host):
    await insert(wk, LI.serial, "contactless")
    view = await wk.wallet.present("contactless")
    assert view.serial == LI.serial and view.holder == "李娜"
    assert view.ed_balance == LI.ed_balance and view.ep_balance == LI.ep_balance
    assert view.history == ()    # a new card
    assert view.room(Wallet.EP) == Money(100_000) - LI.ep_balance


async def test_load_the_purse_from_a_bank_card(wk, host):
    before, bank_before = world(host, wk), host.balance(GOOD.pan)
    await insert(wk, ZHANG.serial)
    view = await wk.wallet.present("contact")
    swiped, block = await bank_card(wk)
    outcome = await wk.wallet.load(view, Wallet.EP, Money(10_000), swiped, block)
    assert outcome.approved and outcome.new_balance == ZHANG.ep_balance + Money(10_000)
    assert card(wk, ZHANG.serial).balance(Wallet.EP) == outcome.new_balance.fen
    assert host.balance(GOOD.pan) == bank_before - 10_000
    assert world(host, wk) == before
    assert wk.journal.get(outcome.txn_id).state == "completed"
    mirrored = host.query("SELECT ep_fen FROM ic_cards WHERE serial = :s", s=ZHANG.serial)
    assert mirrored[0][0] == outcome.new_balance.fen

    again = await wk.wallet.present("contact")
    assert again.history[0].txn_type is TxnType.EP_LOAD and again.history[0].amount == Money(10_000)

    assert await wk.wallet.print_receipt(outcome.txn_id)
    printed = await asyncio.to_thread(wk.sims.printer.wait_for_receipt, 5)
    assert "圈存" in printed.text and GOOD.masked_pan in printed.text and GOOD.pan not in printed.text
    assert outcome.new_balance.yuan in printed.text and ZHANG.serial in printed.text
    await settled(wk)


async def test_loading_the_passbook_needs_the_card_pin_from_the_pad(wk, host):
    before = world(host, wk)
    await insert(wk, ZHANG.serial)
    view = await wk.wallet.present("contact")
    swiped, block = await bank_card(wk)
    with pytest.raises(CardPinWrong) as wrong:
        await wk.wallet.load(view, Wallet.ED, Money(5_000), swiped, block, card_pin="000000")
    assert wrong.value.tries_left == 2
    assert world(host, wk) == before and not wk.journal.recent()

    pin = await type_card_pin(wk, ZHANG.pin)
    swiped, block = await bank_card(wk)
    outcome = await wk.wallet.load(view, Wallet.ED, Money(5_000), swiped, block, card_pin=pin)
    assert outcome.approved and card(wk, ZHANG.serial).balance(Wallet.ED) == ZHANG.ed_balance.fen + 5_000
    assert card(wk, ZHANG.serial).pin_tries_left == 3     # a right PIN resets the count
    assert world(host, wk) == before


async def test_a_blocked_card_pin_is_refused_before_any_money_moves(wk, host):
    before = world(host, wk)
    await insert(wk, WANG_BLOCKED.serial)
    view = await wk.wallet.present("contact")
    swiped, block = await bank_card(wk)
    with pytest.raises(CardPinBlocked):
        await wk.wallet.load(view, Wallet.ED, Money(5_000), swiped, block, card_pin=WANG_BLOCKED.pin)
    assert world(host, wk) == before


async def test_a_declined_bank_card_leaves_the_card_untouched(wk, host):
    before = world(host, wk)
    await insert(wk, ZHANG.serial)
    view = await wk.wallet.present("contact")
    swiped, block = await bank_card(wk, GOOD, pin="999999")
    outcome = await wk.wallet.load(view, Wallet.EP, Money(10_000), swiped, block)
    assert not outcome.approved and outcome.decline_code == "wrong_pin" and outcome.tries_left == 2
    swiped, block = await bank_card(wk, LOW_BALANCE)
    outcome = await wk.wallet.load(view, Wallet.EP, Money(10_000), swiped, block)
    assert not outcome.approved and outcome.decline_code == "insufficient_funds"
    assert card(wk, ZHANG.serial).balance(Wallet.EP) == ZHANG.ep_balance.fen
    assert world(host, wk) == before


async def test_the_purse_maximum_is_refused_before_the_bank_card(wk, host):
    await insert(wk, CHEN_FULL.serial, "contactless")
    view = await wk.wallet.present("contactless")
    assert view.room(Wallet.EP) == Money(1_000)
    swiped, block = await bank_card(wk)
    with pytest.raises(WalletLimitExceeded):
        await wk.wallet.load(view, Wallet.EP, Money(5_000), swiped, block)
    assert not wk.journal.recent()


async def test_a_blacklisted_card_is_refused_and_the_host_hears_of_it(wk, host):
    await insert(wk, LIU_LISTED.serial, "contactless")
    with pytest.raises(CardBlacklisted):
        await wk.wallet.present("contactless")
    sightings = host.query("SELECT kiosk_id FROM card_sightings WHERE serial = :s", s=LIU_LISTED.serial)
    assert [row[0] for row in sightings] == [wk.settings.kiosk_id]
    assert wk.journal.is_blacklisted(LIU_LISTED.serial)


async def test_a_card_reported_lost_is_refused_from_the_downloaded_list_with_the_host_down(wk, host, link):
    await insert(wk, LIU_LISTED.serial, "contactless")
    with pytest.raises(CardBlacklisted):
        await wk.wallet.present("contactless")
    link.set_mode(LinkMode.DOWN)
    with pytest.raises(CardBlacklisted):
        await wk.wallet.present("contactless")


async def test_unload_the_passbook_back_to_a_bank_card(wk, host):
    before, bank_before = world(host, wk), host.balance(GOOD.pan)
    await insert(wk, ZHANG.serial)
    view = await wk.wallet.present("contact")
    pin = await type_card_pin(wk, ZHANG.pin)
    swiped = await swipe(wk, GOOD.track2)
    outcome = await wk.wallet.unload(view, Money(12_345), pin, swiped)
    assert outcome.approved and outcome.new_balance == ZHANG.ed_balance - Money(12_345)
    assert host.balance(GOOD.pan) == bank_before + 12_345
    assert world(host, wk) == before
    with pytest.raises(WalletInsufficient):
        await wk.wallet.unload(view, ZHANG.ed_balance + Money(1), pin, swiped)


async def test_pay_the_bill_from_the_purse_and_from_the_passbook(wk, host):
    before = world(host, wk)
    bill = await wk.bills.lookup(HOUSE)
    await insert(wk, ZHANG.serial)
    view = await wk.wallet.present("contact")
    assert bill.total_due > view.ep_balance
    with pytest.raises(WalletInsufficient):
        await wk.wallet.pay_bill(view, Wallet.EP, bill)
    outcome = await wk.wallet.pay_bill(view, Wallet.ED, bill, card_pin=ZHANG.pin)
    assert outcome.approved and outcome.reference
    assert card(wk, ZHANG.serial).balance(Wallet.ED) == ZHANG.ed_balance.fen - bill.total_due.fen
    assert host.bill(HOUSE)["total_due_fen"] == 0
    assert world(host, wk) == before
    assert await wk.wallet.print_receipt(outcome.txn_id)
    printed = await asyncio.to_thread(wk.sims.printer.wait_for_receipt, 5)
    assert HOUSE in printed.text and bill.total_due.yuan in printed.text


async def test_change_the_card_pin_on_the_pad(wk, host):
    await insert(wk, ZHANG.serial)
    view = await wk.wallet.present("contact")
    with pytest.raises(CardPinWrong):
        await wk.wallet.change_pin(view, "000000", "246810")
    await wk.wallet.change_pin(view, await type_card_pin(wk, ZHANG.pin), await type_card_pin(wk, "246810"))
    with pytest.raises(CardPinWrong):
        await wk.wallet.unload(view, Money(100), ZHANG.pin, await swipe(wk, GOOD.track2))
    outcome = await wk.wallet.unload(view, Money(100), "246810", await swipe(wk, GOOD.track2))
    assert outcome.approved


async def test_host_down_means_nothing_happened(wk, host, link):
    before = world(host, wk)
    await insert(wk, ZHANG.serial)
    view = await wk.wallet.present("contact")
    swiped, block = await bank_card(wk)
    link.set_mode(LinkMode.DOWN)
    with pytest.raises(HostUnavailable):
        await wk.wallet.load(view, Wallet.EP, Money(10_000), swiped, block)
    assert world(host, wk) == before and card(wk, ZHANG.serial).balance(Wallet.EP) == ZHANG.ep_balance.fen


@pytest.mark.parametrize("fault", [LinkMode.DROP_REPLIES, LinkMode.CUT_AFTER_REQUEST, LinkMode.TAMPER_REPLIES])
async def test_an_unknown_authorisation_is_cancelled_and_the_bank_made_whole(wk, host, link, fault):
    before, bank_before = world(host, wk), host.balance(GOOD.pan)
    await insert(wk, ZHANG.serial)
    view = await wk.wallet.present("contact")
    swiped, block = await bank_card(wk)
    link.set_mode(fault)
    with pytest.raises(OutcomeUnknown):
        await wk.wallet.load(view, Wallet.EP, Money(10_000), swiped, block)
    with pytest.raises(PaymentsSuspended):    # nothing new starts until the cancel is acknowledged
        await wk.wallet.load(view, Wallet.EP, Money(10_000), swiped, block)
    link.set_mode(LinkMode.UP)
    await settled(wk)
    assert host.balance(GOOD.pan) == bank_before
    assert card(wk, ZHANG.serial).balance(Wallet.EP) == ZHANG.ep_balance.fen
    assert world(host, wk) == before
    assert [e.state for e in wk.journal.recent()] == ["cancelled"]


async def test_a_card_swapped_between_presenting_and_loading_is_refused(wk, host):
    await insert(wk, ZHANG.serial)
    view = await wk.wallet.present("contact")
    await remove(wk)
    await insert(wk, WANG_BLOCKED.serial)
    swiped, block = await bank_card(wk)
    from kiosk.domain.errors import NotTheSameCard
    with pytest.raises(NotTheSameCard):
        await wk.wallet.load(view, Wallet.EP, Money(100), swiped, block)
    assert not wk.journal.recent()
