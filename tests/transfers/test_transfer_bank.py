"""The bank card as a side of a transfer (docs/cards.md §7 "Pairs"): the transfer
service's bank pairs run the IC wallet's load and unload and the one-card's load
(their own records at the host), and the receipt names both cards masked."""
from __future__ import annotations

from sqlalchemy import text

from common.epurse import Wallet
from common.money import Money
from host.onecard.registry import DEMO_ONECARDS
from kiosk.services.transfer_view import BANK, TransferCard
from tests.support.onecard_host import purse, virtual
from tests.support.onecard_kiosks import OneCardWorld
from tests.support.payments import GOOD, enter_pin, swipe
from tests.support.wallets import ZHANG, card, insert, remove, type_card_pin


async def test_bank_to_cpu_and_onecard_and_passbook_to_bank(onecard_world: OneCardWorld) -> None:
    w = onecard_world
    t = w.kiosk.transfers
    assert t is not None and t.bank_pairs is not None
    await insert(w.kiosk, ZHANG.serial, "contact")
    one = virtual(DEMO_ONECARDS[0])
    w.cards.append(one)
    w.kiosk.sims.ic_cards[one.serial] = one
    await insert(w.kiosk, one.serial, "contactless")
    cpu, onecard = await t.card_in("contact"), await t.card_in("contactless")
    bank = TransferCard(BANK, "")

    swiped = await swipe(w.kiosk, GOOD.track2)
    block = await enter_pin(w.kiosk, swiped, GOOD.pin, checked_by="card_centre")
    to_cpu = await t.bank_pairs.transfer(bank, cpu, Money(1_000), swiped, block)
    assert to_cpu.state == "completed" and to_cpu.dst_balance_after == cpu.balance + Money(1_000), to_cpu
    assert card(w.kiosk, ZHANG.serial).balance(Wallet.EP) == (cpu.balance + Money(1_000)).fen
    text_ = t.receipt_for(to_cpu.txn_id).extra
    assert any(swiped.masked_pan in line for line in text_) and any(f"****{ZHANG.serial[-4:]}" in line
                                                                    for line in text_)
    assert not any(ZHANG.serial in line for line in text_)        # masked, never the whole number
    with w.host.engine.connect() as conn:                           # the card centre's load is its record
        (kind,) = conn.execute(text("SELECT kind FROM card_txns WHERE txn_id = :t"), {"t": to_cpu.txn_id}).one()
    assert kind == "load"

    swiped = await swipe(w.kiosk, GOOD.track2)
    block = await enter_pin(w.kiosk, swiped, GOOD.pin, checked_by="card_centre")
    to_one = await t.bank_pairs.transfer(bank, onecard, Money(2_000), swiped, block)
    assert to_one.state == "completed" and purse(one) == DEMO_ONECARDS[0].balance_fen + 2_000, to_one

    ed = TransferCard("cpu", cpu.card, "contact", Wallet.ED)
    pin = await type_card_pin(w.kiosk, ZHANG.pin)
    swiped = await swipe(w.kiosk, GOOD.track2)
    to_bank = await t.bank_pairs.transfer(ed, bank, Money(500), swiped, None, pin)
    assert to_bank.state == "completed" and to_bank.src_balance_after == ZHANG.ed_balance - Money(500), to_bank
    refused = await t.bank_pairs.transfer(onecard, bank, Money(500), swiped, None)
    assert refused.decline_code == "onecard_to_bank"
    await remove(w.kiosk, "contact")
    await remove(w.kiosk, "contactless")
