"""卡务 card services by touch: virtual CPU cards moved by the device bench into
the readers of a real (private) pcscd, the real wallet service and pyscard
adapter, the PIN pad and card reader drivers on their ptys, and a freshly
seeded reference host per test. What the cards, the bank accounts and the
bills hold afterwards is read from the cards and the host, not the screens."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kiosk.i18n import tr
from kiosk.demo.tour.bench import bench_tap, enter_pin, ic_card, press_pad, swipe
from kiosk.demo.tour.cards import open_card
from kiosk.demo.tour.cast import CARD_HOLDER, CARD_HOLDER_PIN, LOST_CARD, OTHER_CARD, PAY_CARD, PAY_PIN
from kiosk.demo.tour.screens import lookup, show, type_amount
from tests.support.kiosks import host_bill

pytestmark = [pytest.mark.ui, pytest.mark.kiosk_wallet]

PIN_BLOCKED_CARD = "00002601000000000003"   # 王芳: the card's PIN is blocked
FULL_PURSE_CARD = "00002601000000000005"    # 陈静: purse ¥990.00 of ¥1,000.00
WALLET_HOUSE = "2-1-601"                    # the latest month only


def demo(serial: str) -> Any:
    """The card as config/test-cards.toml personalises it."""
    from common.demo_cards import load_test_cards

    return load_test_cards().ic_card(serial)


def live(app: Any, serial: str) -> Any:
    return app.kiosk.sims.ic_cards[serial]


def ep(app: Any, serial: str) -> int:
    from common.epurse import Wallet

    return live(app, serial).balance(Wallet.EP)


def ed(app: Any, serial: str) -> int:
    from common.epurse import Wallet

    return live(app, serial).balance(Wallet.ED)


def bank_balance(host: Any, pan: str) -> int:
    from sqlalchemy import text

    from host.bank.card_vault import pan_hash
    from host.config import load_host_settings

    with host.engine.connect() as conn:     # the account is found by the PAN's keyed hash (demo config's key)
        return int(conn.execute(text("SELECT balance_fen FROM bank_accounts WHERE pan_hash = :h"),
                                {"h": pan_hash(load_host_settings().bank_keys(), pan)}).scalar_one())


def due_fen(host: Any, house: str) -> int:
    return int(host_bill(host, house)["total_due_fen"])


def pay_card_pan() -> str:
    from common.demo_cards import load_test_cards

    return next(c.pan for c in load_test_cards().cards if c.pan.endswith(PAY_CARD))


def money(fen: int) -> str:
    from common.money import Money

    return Money(fen).display()


def preset(app: Any, yuan: str) -> Any:
    from common.money import Money
    from kiosk.screens.card_widgets import PresetButton
    from kiosk.demo.touch import find

    return find(app.screen("card_amount"), lambda w: isinstance(w, PresetButton) and w.amount == Money.parse(yuan))


async def shot(app: Any, artifacts: Any, name: str, *, with_bench: bool = False) -> None:
    from kiosk.demo.touch import frames

    await frames(3)
    (app.root if with_bench else app.kiosk_area).export_to_png(str(artifacts / f"flow-{name}.png"))


async def test_card_screen_then_taking_the_card_returns_to_idle(kiosk_app: Any, artifacts: Any) -> None:
    app = kiosk_app
    card = await open_card(app, CARD_HOLDER)
    assert card.ids.holder.text == tr("card.holder", holder="张伟")
    assert card.ids.serial.text == "0000 2601 0000 0000 0001"
    assert card.ids.ep.balance == money(ep(app, CARD_HOLDER)) == demo(CARD_HOLDER).ep_balance.display()
    assert card.ids.ed.balance == money(ed(app, CARD_HOLDER)) == demo(CARD_HOLDER).ed_balance.display()
    assert [w.text for w in card.ids.history.children] == [tr("card.history.none")]
    await shot(app, artifacts, "card-new", with_bench=True)
    await ic_card(app, CARD_HOLDER, "remove")      # the card holder takes the card: done
    await show(app, "idle")
    assert app.flow.cards.view is None


async def test_load_the_purse_from_a_bank_card(kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import tap, wait_for

    app = kiosk_app
    pan = pay_card_pan()
    bank_before, purse_before = bank_balance(ui_host, pan), ep(app, CARD_HOLDER)
    card = await open_card(app, CARD_HOLDER)
    await tap(card.ids.load)
    amount = await show(app, "card_amount")
    assert app.flow.cards.wallet == "EP"
    room = money(demo(CARD_HOLDER).ep_max.fen - purse_before)
    assert amount.ids.limits.text == tr("card.amount.limits.load", low="¥1.00", high="¥1,000.00", room=room)
    await tap(preset(app, "100.00"))
    assert amount.ids.display.text == "¥ 100" and amount.ids.note.text == ""
    await shot(app, artifacts, "card-load-amount")
    await tap(amount.ids.next)

    swiping = await show(app, "swipe")                # the bill payment's own swipe step
    summary = swiping.ids.summary.ids
    assert summary.amount_label.text == tr("card.pay.load") and summary.amount.text == "¥100.00"
    assert summary.house.text == tr("card.pay.load_target", tail="0001", wallet=tr("card.wallet.EP"))
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await enter_pin(app, PAY_PIN)
    result = await show(app, "card_result")
    cards = app.flow.cards
    assert cards.result_kind == "approved", cards.result_body
    assert result.ids.title.text == tr("card.result.load.title")
    assert ep(app, CARD_HOLDER) == purse_before + 100_00          # on the card itself
    assert bank_balance(ui_host, pan) == bank_before - 100_00      # and off the bank account
    assert result.rows["balance"].value == money(purse_before + 100_00)
    assert result.rows["masked_pan"].value == "622202*********0017"
    receipt = await asyncio.to_thread(app.kiosk.sims.printer.wait_for_receipt, 10)
    assert "圈存" in receipt.text and "6222021000000000017" not in receipt.text
    await wait_for(lambda: cards.receipt_state == "printed", timeout_s=10, what="'receipt printed'")
    await shot(app, artifacts, "card-load-result")

    await tap(result.ids.second)                     # back to my card: read afresh, with its history
    card = await show(app, "card")
    rows = [(r.what, r.amount) for r in reversed(card.ids.history.children)]
    assert rows[0] == (tr("card.txn.EP_LOAD"), "+¥100.00")
    assert card.ids.ep.balance == money(purse_before + 100_00)
    await shot(app, artifacts, "card-history")


async def test_out_of_range_amounts_are_refused_before_anything_happens(kiosk_app: Any, ui_host: Any) -> None:
    from kiosk.demo.touch import tap

    app = kiosk_app
    sims = app.kiosk.sims
    card = await open_card(app, FULL_PURSE_CARD, "tap")
    await tap(card.ids.load)
    amount = await show(app, "card_amount")
    full = demo(FULL_PURSE_CARD)
    purse_room, passbook_room = full.ep_max - full.ep_balance, full.ed_max - full.ed_balance
    assert purse_room.fen < 50_00 and passbook_room.fen < 2000_00
    assert preset(app, "50.00").disabled                           # more than the purse can take
    await type_amount(app, "50")
    await tap(amount.ids.next)
    assert amount.ids.note.text == tr("card.amount.over_room", amount=purse_room.display())
    await type_amount(app, "0.5")
    await tap(amount.ids.next)
    assert amount.ids.note.text == tr("card.amount.too_small", amount="¥1.00")
    await tap(amount.ids.wallet_ed)                                # the passbook has room too, less than 2000
    await type_amount(app, "2000")
    await tap(amount.ids.next)
    assert amount.ids.note.text == tr("card.amount.too_large", amount="¥1,000.00")
    await type_amount(app, str(int(passbook_room.fen // 100) + 1))
    await tap(amount.ids.next)
    assert amount.ids.note.text == tr("card.amount.over_room", amount=passbook_room.display())
    await type_amount(app, "1.234")                                # a third decimal is refused as typed
    assert amount.ids.display.text == "¥ 1.23" and amount.ids.note.text == tr("card.amount.bad")
    assert app.screens.current == "card_amount"
    assert not sims.reader.armed and not sims.pinpad.entering      # nothing else happened
    assert app.kiosk.journal.recent(10) == []


async def test_passbook_load_with_a_wrong_card_pin_first(kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import tap, wait_for

    app = kiosk_app
    passbook_before = ed(app, CARD_HOLDER)
    card = await open_card(app, CARD_HOLDER)
    await tap(card.ids.load)
    amount = await show(app, "card_amount")
    await tap(amount.ids.wallet_ed)
    await type_amount(app, "200")
    await tap(amount.ids.next)
    pin = await show(app, "card_pin")                              # the passbook's PIN first
    assert pin.ids.prompt.text == tr("card.pin.card")
    await press_pad(app, "123")
    await wait_for(lambda: app.flow.cards.pin_digits == 3, timeout_s=5, what="three dots")
    slots = sorted(pin.ids.slots.children, key=lambda s: s.index)
    assert [s.text for s in slots] == ["●", "●", "●", "", "", ""]
    await shot(app, artifacts, "card-pin-3-digits")
    await press_pad(app, ["clear", *"000000", "enter"], wait_entering=False)
    await show(app, "swipe")
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await enter_pin(app, PAY_PIN)
    # the card refused the PIN before any money moved: the card PIN again, tries left shown
    await wait_for(lambda: app.screens.current == "card_pin" and app.flow.cards.pin_note, timeout_s=15,
                   what="the card PIN screen again")
    assert pin.ids.note.text == tr("card.pin.wrong", tries=2)
    assert live(app, CARD_HOLDER).pin_tries_left == 2
    assert ed(app, CARD_HOLDER) == passbook_before
    await shot(app, artifacts, "card-pin-wrong")
    await enter_pin(app, CARD_HOLDER_PIN)
    await show(app, "pin")                                         # a fresh bank PIN block, same bank card
    await enter_pin(app, PAY_PIN)
    await show(app, "card_result")
    assert app.flow.cards.result_kind == "approved"
    assert ed(app, CARD_HOLDER) == passbook_before + 200_00
    assert live(app, CARD_HOLDER).pin_tries_left == 3


async def test_unload_the_passbook_to_a_bank_card(kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import tap

    app = kiosk_app
    pan = pay_card_pan()
    bank_before, passbook_before = bank_balance(ui_host, pan), ed(app, CARD_HOLDER)
    card = await open_card(app, CARD_HOLDER)
    await tap(card.ids.unload)
    amount = await show(app, "card_amount")
    assert amount.ids.wallets.opacity == 0 and app.flow.cards.wallet == "ED"
    await type_amount(app, str(passbook_before // 100 + 1))
    await tap(amount.ids.next)
    assert amount.ids.note.text == tr("card.amount.over_balance", amount=money(passbook_before))
    await type_amount(app, "120.5")
    await tap(amount.ids.next)
    await show(app, "card_pin")
    await enter_pin(app, CARD_HOLDER_PIN)
    swiping = await show(app, "swipe")
    assert swiping.ids.summary.ids.amount_label.text == tr("card.pay.unload")
    await swipe(app, PAY_CARD)                                     # money goes to it: no bank PIN
    result = await show(app, "card_result")
    assert app.flow.cards.result_kind == "approved", app.flow.cards.result_body
    assert result.ids.title.text == tr("card.result.unload.title")
    assert ed(app, CARD_HOLDER) == passbook_before - 120_50
    assert bank_balance(ui_host, pan) == bank_before + 120_50
    await shot(app, artifacts, "card-unload-result")


async def test_change_pin_with_a_mismatch_first(kiosk_app: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import tap, wait_for

    app = kiosk_app
    card = await open_card(app, OTHER_CARD, "tap")
    await tap(card.ids.change_pin)
    pin = await show(app, "card_pin")
    assert pin.ids.step.text == tr("card.pin.step", step=1)
    cards = app.flow.cards
    await enter_pin(app, "654321")
    await wait_for(lambda: cards.pin_stage == "new", timeout_s=5, what="the new PIN step")
    assert pin.ids.prompt.text == tr("card.pin.new") and pin.ids.step.text == tr("card.pin.step", step=2)
    await enter_pin(app, "111222")
    await wait_for(lambda: cards.pin_stage == "again", timeout_s=5, what="the new PIN again")
    await enter_pin(app, "111333")                                 # not the same: start again
    await wait_for(lambda: cards.pin_stage == "old" and cards.pin_note, timeout_s=5, what="start again")
    assert pin.ids.note.text == tr("card.pin.mismatch")
    await shot(app, artifacts, "card-pin-mismatch")
    for stage, stage_pin in (("old", "654321"), ("new", "111222"), ("again", "111222")):
        await wait_for(lambda s=stage: cards.pin_stage == s and app.kiosk.sims.pinpad.entering, timeout_s=5,
                       what=f"the {stage} PIN step")
        await enter_pin(app, stage_pin)
    result = await show(app, "card_result")
    assert result.ids.title.text == tr("card.result.pin.title")
    assert result.ids.details.opacity == 0
    # the new PIN is the card's: changing it back with it as the old one works
    await tap(result.ids.second)
    card = await show(app, "card")
    await tap(card.ids.change_pin)
    for stage, stage_pin in (("old", "111222"), ("new", "654321"), ("again", "654321")):
        await wait_for(lambda s=stage: cards.pin_stage == s and app.kiosk.sims.pinpad.entering, timeout_s=5,
                       what=f"the {stage} PIN step")
        await enter_pin(app, stage_pin)
    await show(app, "card_result")
    assert app.flow.cards.result_title == "card.result.pin.title"


async def test_pay_the_bill_from_the_passbook(kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import tap, wait_for

    app = kiosk_app
    due = due_fen(ui_host, WALLET_HOUSE)
    purse = ep(app, CARD_HOLDER)
    assert purse < due <= ed(app, CARD_HOLDER), "the purse must be too low and the passbook enough for this test"
    passbook_before = ed(app, CARD_HOLDER)
    bill = await lookup(app, WALLET_HOUSE, "bill")
    assert bill.ids.pay.text == tr("card.bill.pay_bank") and bill.ids.pay_wallet.text == tr("card.bill.pay_wallet")
    await shot(app, artifacts, "bill-pay-choice")
    await tap(bill.ids.pay_wallet)
    insert = await show(app, "card_insert")
    assert insert.ids.for_pay.text == tr("card.insert.for_pay", amount=money(due))
    await shot(app, artifacts, "card-insert-for-bill")
    await ic_card(app, CARD_HOLDER, "insert")
    choose = await show(app, "card_wallet")
    assert not choose.ids.ep.usable and choose.ids.ep.disabled
    assert choose.ids.ep.note == tr("card.choose.short", amount=money(due - purse))
    assert choose.ids.ed.usable and choose.ids.ed.note == tr("card.choose.pin")
    await shot(app, artifacts, "card-choose-wallet")
    await tap(choose.ids.ep, allow_disabled=True)                 # greyed out: nothing happens
    assert app.screens.current == "card_wallet"
    await tap(choose.ids.ed)
    await show(app, "card_pin")
    await enter_pin(app, CARD_HOLDER_PIN)
    result = await show(app, "card_result")
    assert app.flow.cards.result_kind == "approved", app.flow.cards.result_body
    assert result.ids.body.text == tr("card.result.pay", house=WALLET_HOUSE, wallet=tr("card.wallet.ED"))
    assert ed(app, CARD_HOLDER) == passbook_before - due
    assert due_fen(ui_host, WALLET_HOUSE) == 0                    # the host marked the bill paid
    await wait_for(lambda: app.flow.cards.receipt_state == "printed", timeout_s=10, what="the receipt")
    await shot(app, artifacts, "card-pay-result")
    await tap(result.ids.action)
    await show(app, "idle")


async def test_lost_and_pin_blocked_cards_say_what_to_do(kiosk_app: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import tap

    app = kiosk_app
    await tap(app.screen("idle").ids.card)
    await show(app, "card_insert")
    await ic_card(app, LOST_CARD, "tap")
    message = await show(app, "message")
    assert message.ids.title.text == tr("card.msg.lost.title")
    assert message.ids.body.text == tr("error.card_blacklisted")
    await shot(app, artifacts, "card-lost")
    await ic_card(app, LOST_CARD, "remove")
    await tap(message.ids.action)                                 # home
    await show(app, "idle")

    card = await open_card(app, PIN_BLOCKED_CARD)
    await tap(card.ids.unload)
    amount = await show(app, "card_amount")
    await type_amount(app, "10")
    await tap(amount.ids.next)
    await show(app, "card_pin")
    await enter_pin(app, "111111")
    await show(app, "swipe")
    await swipe(app, PAY_CARD)
    message = await show(app, "message")
    assert message.ids.title.text == tr("card.msg.pin_blocked.title")
    assert message.ids.body.text == tr("error.card_pin_blocked")


async def test_a_torn_load_is_finished_when_the_same_card_comes_back(
        kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import tap, wait_for

    app = kiosk_app
    pan = pay_card_pan()
    bank_before, purse_before = bank_balance(ui_host, pan), ep(app, CARD_HOLDER)
    card = await open_card(app, CARD_HOLDER)
    await tap(card.ids.load)
    amount = await show(app, "card_amount")
    await tap(preset(app, "50.00"))
    await tap(amount.ids.next)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await bench_tap(app, app.side_panel.ic_cards.ids.ic_tear)                   # the card leaves during its write
    assert app.side_panel.ic_cards.tear_armed
    await enter_pin(app, PAY_PIN)
    tear = await show(app, "card_tear")
    assert tear.ids.tail.text == tr("card.tear.card", tail="0001")
    assert tear.ids.bar.ids.back.disabled and not app.timer.active
    assert ep(app, CARD_HOLDER) == purse_before + 50_00           # the card applied it; its answer was lost
    await wait_for(lambda: app.flow.cards.tear_remaining < 60, timeout_s=3, what="the countdown")
    await shot(app, artifacts, "card-tear", with_bench=True)
    app.flow.go_idle()                                            # nothing leaves the tear screen but the card
    assert app.screens.current == "card_tear"

    await ic_card(app, OTHER_CARD, "tap")                         # the wrong card
    await wait_for(lambda: app.flow.cards.tear_note == "card.tear.not_same", timeout_s=10, what="'not the same'")
    assert tear.ids.note.text == tr("card.tear.not_same", tail="0001")
    await shot(app, artifacts, "card-tear-not-same")
    await ic_card(app, OTHER_CARD, "remove")
    await ic_card(app, CARD_HOLDER, "insert")                     # the same card: asked, not guessed
    result = await show(app, "card_result")
    assert app.flow.cards.result_kind == "approved"
    assert result.rows["balance"].value == money(purse_before + 50_00)
    assert ep(app, CARD_HOLDER) == purse_before + 50_00           # once, not twice
    assert bank_balance(ui_host, pan) == bank_before - 50_00


async def test_a_torn_card_that_does_not_come_back_is_settled_next_time(
        kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import tap

    app = kiosk_app
    app.flow.cards.tear_wait_s = 3                                # instead of 60 s
    pan = pay_card_pan()
    bank_before, purse_before = bank_balance(ui_host, pan), ep(app, CARD_HOLDER)
    card = await open_card(app, CARD_HOLDER)
    await tap(card.ids.load)
    amount = await show(app, "card_amount")
    await tap(preset(app, "50.00"))
    await tap(amount.ids.next)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await bench_tap(app, app.side_panel.ic_cards.ids.ic_tear)
    await enter_pin(app, PAY_PIN)
    await show(app, "card_tear")
    message = await show(app, "message", timeout_s=10)            # nobody brought it back
    assert message.ids.title.text == tr("card.tear.abandoned.title")
    assert message.ids.body.text == tr("card.tear.abandoned")
    await shot(app, artifacts, "card-tear-abandoned")
    await tap(message.ids.action)
    await show(app, "idle")

    card = await open_card(app, CARD_HOLDER)                      # next time: settled on presenting
    assert card.ids.resolved.text == tr("card.resolved")
    assert card.ids.ep.balance == money(purse_before + 50_00)
    assert bank_balance(ui_host, pan) == bank_before - 50_00
    await shot(app, artifacts, "card-resolved")
