"""Card payment by touch and the simulated devices (driven from the device
bench, by touch too), against a freshly seeded reference host of its own per
test: the host's own figures show what was charged."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kiosk.i18n import tr
from kiosk.demo.tour.bench import bench_tap, enter_pin, press_pad, swipe, wallet_button
from kiosk.demo.tour.cast import BILL_HOUSE, DECLINE_CARD, DECLINE_PIN, PAY_CARD, PAY_PIN
from kiosk.demo.tour.screens import show, start_payment

from tests.support.layout import layout_problems
from tests.support.kiosks import host_bill

pytestmark = [pytest.mark.ui, pytest.mark.kiosk_payments]

OTHER_HOUSE = "2-2-902"


def due_fen(host: Any, house: str) -> int:
    return int(host_bill(host, house)["total_due_fen"])


def money(fen: int) -> str:
    from common.money import Money

    return Money(fen).display()


async def test_approved_payment_prints_a_receipt_and_settles_the_bill(
        kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import frames, tap, wait_for

    app = kiosk_app
    due = due_fen(ui_host, BILL_HOUSE)
    assert due > 0
    screen = await start_payment(app, BILL_HOUSE)
    assert screen.name == "swipe"
    assert screen.ids.summary.ids.amount.text == money(due)
    assert screen.ids.prompt.text == tr("swipe.prompt")
    await wait_for(lambda: app.side_panel.card_reader.reader_armed, timeout_s=10, what="the bench to show the reader armed")
    await frames(8)
    app.kiosk_area.export_to_png(str(artifacts / "flow-payment-swipe.png"))
    app.root.export_to_png(str(artifacts / "flow-payment-swipe-with-bench.png"))
    assert not layout_problems(app.side_panel, app.side_panel)

    await swipe(app, PAY_CARD)
    pin = await show(app, "pin")
    assert pin.ids.summary.ids.card.text == tr("pay.card", card="622202*********0017")
    await press_pad(app, "123")
    await wait_for(lambda: app.flow.bank.pin_digits == 3, timeout_s=5, what="3 digits")
    await wait_for(lambda: app.side_panel.pin_pad.pin_digits == 3, timeout_s=5, what="the bench pad's display")
    assert app.side_panel.pin_pad.ids.pin_display.text == "* * *"
    await frames(2)
    app.root.export_to_png(str(artifacts / "flow-payment-pin-with-bench.png"))
    slots = sorted(pin.ids.slots.children, key=lambda s: s.index)
    assert [s.text for s in slots] == ["*", "*", "*", "", "", ""]
    app.kiosk_area.export_to_png(str(artifacts / "flow-payment-pin.png"))
    await press_pad(app, ["clear"], wait_entering=False)          # Clear on the pad empties the slots
    await wait_for(lambda: app.flow.bank.pin_digits == 0, timeout_s=5, what="the slots to empty")
    assert app.kiosk.sims.pinpad.digits == 0

    await enter_pin(app, PAY_PIN)
    result = await show(app, "result")
    assert app.flow.payment.result_kind == "approved"
    assert result.ids.masked_pan.value == "622202*********0017"
    assert result.ids.amount.value == money(due)
    assert app.flow.payment.reference and result.ids.reference.value == app.flow.payment.reference
    receipt = await asyncio.to_thread(app.kiosk.sims.printer.wait_for_receipt, 10)
    from common.money import Money

    assert BILL_HOUSE in receipt.text and Money(due).yuan in receipt.text
    assert "622202*********0017" in receipt.text and "6222021000000000017" not in receipt.text
    await wait_for(lambda: app.flow.payment.receipt_state == "printed", timeout_s=10, what="'receipt printed'")
    await wait_for(lambda: app.side_panel.printer.receipts == 1 and app.side_panel.printer.receipt_texture is not None,
                   timeout_s=5, what="the receipt on the bench")
    assert result.ids.receipt.text == tr("receipt.printed")
    assert due_fen(ui_host, BILL_HOUSE) == 0                    # the host marked the bills paid
    await frames(3)
    app.kiosk_area.export_to_png(str(artifacts / "flow-payment-result-approved.png"))
    app.side_panel.ids.scroll.scroll_to(app.side_panel.printer, animate=False)
    await frames(3)
    app.root.export_to_png(str(artifacts / "flow-payment-approved-with-bench.png"))
    assert not layout_problems(app.side_panel, app.side_panel)

    await tap(result.ids.action)                                # Done
    await show(app, "idle")


async def test_wrong_pin_then_right_pin_with_the_same_card(kiosk_app: Any, ui_host: Any) -> None:
    from kiosk.demo.touch import wait_for

    app = kiosk_app
    assert due_fen(ui_host, OTHER_HOUSE) > 0
    await start_payment(app, OTHER_HOUSE)
    await swipe(app, PAY_CARD)
    pin = await show(app, "pin")
    await enter_pin(app, "000000")
    # straight back to the PIN screen, same card, the bank's tries left shown
    await wait_for(lambda: app.flow.bank.pin_note == "pin.wrong" and app.screens.current == "pin",
                   timeout_s=10, what="the PIN screen again")
    assert pin.ids.note.text == tr("pin.wrong", tries=2)
    assert app.flow.bank.card_text == "622202*********0017"
    assert due_fen(ui_host, OTHER_HOUSE) > 0
    await enter_pin(app, PAY_PIN)
    await show(app, "result")
    assert app.flow.payment.result_kind == "approved"
    assert due_fen(ui_host, OTHER_HOUSE) == 0


async def test_cancel_on_the_swipe_and_pin_screens_charges_nothing(kiosk_app: Any, ui_host: Any) -> None:
    from kiosk.demo.touch import tap, wait_for

    app = kiosk_app
    sims = app.kiosk.sims
    due = due_fen(ui_host, BILL_HOUSE)
    swipe_screen = await start_payment(app, BILL_HOUSE)
    await wait_for(lambda: sims.reader.armed, timeout_s=10, what="the reader armed")
    await tap(swipe_screen.ids.cancel)
    await show(app, "idle")
    await wait_for(lambda: not sims.reader.armed, timeout_s=5, what="the reader disarmed")
    await bench_tap(app, wallet_button(app, PAY_CARD))
    assert app.side_panel.card_reader.not_armed                                   # "reader not armed" on the bench
    assert app.screens.current == "idle"

    # Cancel on the screen cancels the PIN pad
    await start_payment(app, BILL_HOUSE)
    await swipe(app, PAY_CARD)
    pin = await show(app, "pin")
    await press_pad(app, "12")
    await tap(pin.ids.cancel)
    await show(app, "idle")
    await wait_for(lambda: not sims.pinpad.entering, timeout_s=5, what="the PIN pad to stop")

    # Cancel on the PIN pad itself
    await start_payment(app, BILL_HOUSE)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await press_pad(app, ["1", "cancel"])
    await show(app, "idle")
    assert app.flow.payment.bill is None and app.flow.bank.card_text == app.flow.payment.card_text == ""
    assert due_fen(ui_host, BILL_HOUSE) == due                   # nothing charged
    assert not app.kiosk.journal.in_state("approved")


async def test_paper_out_offers_to_continue_without_a_receipt(kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import frames, tap

    app = kiosk_app
    await bench_tap(app, app.side_panel.printer.ids.paper_out)
    message = await start_payment(app, BILL_HOUSE)
    assert message.name == "message"
    assert message.ids.body.text == tr("msg.no_paper")
    assert message.ids.action.text == tr("msg.continue_no_receipt")
    assert message.ids.home.text == tr("common.cancel")
    await frames(2)
    app.kiosk_area.export_to_png(str(artifacts / "flow-payment-message-no-paper.png"))
    await tap(message.ids.action)
    swipe_screen = await show(app, "swipe")
    assert swipe_screen.ids.summary.ids.paper.text == tr("pay.no_receipt")
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await enter_pin(app, PAY_PIN)
    result = await show(app, "result")
    assert app.flow.payment.result_kind == "approved" and app.flow.payment.receipt_state == "skipped"
    assert result.ids.receipt.text == tr("receipt.skipped", reference=app.flow.payment.reference)
    assert due_fen(ui_host, BILL_HOUSE) == 0
    await frames(3)
    app.kiosk_area.export_to_png(str(artifacts / "flow-payment-result-no-receipt.png"))
    assert app.kiosk.sims.printer.receipts == []


async def test_bad_swipe_then_a_decline_then_another_card(kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import frames, tap, wait_for

    app = kiosk_app
    due = due_fen(ui_host, BILL_HOUSE)
    swipe_screen = await start_payment(app, BILL_HOUSE)
    await swipe(app, "damaged")
    await wait_for(lambda: app.flow.bank.swipe_again, timeout_s=10, what="'please swipe again'")
    assert swipe_screen.ids.prompt.text == tr("swipe.again")
    await swipe(app, DECLINE_CARD)                               # the reader was armed again
    await show(app, "pin")
    await enter_pin(app, DECLINE_PIN)
    result = await show(app, "result")
    assert app.flow.payment.result_kind == "declined"
    assert result.ids.body.text == tr("decline.expired_card")
    assert result.ids.action.text == tr("result.another_card")
    await frames(2)
    app.kiosk_area.export_to_png(str(artifacts / "flow-payment-result-declined.png"))
    assert due_fen(ui_host, BILL_HOUSE) == due
    await tap(result.ids.action)
    await show(app, "swipe")
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await enter_pin(app, PAY_PIN)
    await show(app, "result")
    assert app.flow.payment.result_kind == "approved"


@pytest.mark.kiosk_settings(idle_timeout_s=3, host_timeout_s=4.5)
async def test_replies_lost_is_reversed_and_the_countdown_waits(kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import frames, tap, wait_for

    app = kiosk_app
    due = due_fen(ui_host, BILL_HOUSE)
    await start_payment(app, BILL_HOUSE)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await bench_tap(app, app.side_panel.host_link.ids.net_drop)                # the bank's answers get lost
    await wait_for(lambda: app.side_panel.host_link.network_mode == "drop_replies", timeout_s=5, what="replies lost")
    await enter_pin(app, PAY_PIN)
    processing = await show(app, "processing")
    bar = processing.ids.bar
    assert bar.ids.back.opacity == 0 and bar.ids.back.disabled and bar.ids.countdown.text == ""
    assert not app.timer.active
    await frames(10)
    app.kiosk_area.export_to_png(str(artifacts / "flow-payment-processing.png"))
    await asyncio.sleep(3.5)                                     # longer than the idle countdown
    assert app.screens.current == "processing"
    result = await show(app, "result")
    assert app.flow.payment.result_kind == "unknown"
    assert result.ids.body.text == tr("error.outcome_unknown")
    await frames(2)
    app.kiosk_area.export_to_png(str(artifacts / "flow-payment-result-unknown.png"))
    assert app.kiosk.payments.suspended                          # a reversal is pending

    await bench_tap(app, app.side_panel.host_link.ids.net_up)
    await wait_for(lambda: not app.kiosk.payments.suspended, timeout_s=20, what="the reversal acknowledged")
    assert due_fen(ui_host, BILL_HOUSE) == due                   # captured, then reversed: nothing charged
    await tap(result.ids.action)
    await show(app, "idle")


async def test_bank_unreachable_then_try_again(kiosk_app: Any, ui_host: Any) -> None:
    from kiosk.demo.touch import tap, wait_for

    app = kiosk_app
    await wait_for(lambda: app.kiosk.session.signed_on, timeout_s=10, what="sign-on")
    await start_payment(app, BILL_HOUSE)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await bench_tap(app, app.side_panel.host_link.ids.net_down)
    await wait_for(lambda: app.side_panel.host_link.network_mode == "down", timeout_s=5, what="network down")
    await enter_pin(app, PAY_PIN)
    result = await show(app, "result")
    assert app.flow.payment.result_kind == "unavailable"
    assert result.ids.body.text == tr("pay.host_unavailable")
    assert result.ids.action.text == tr("msg.retry")
    await bench_tap(app, app.side_panel.host_link.ids.net_up)
    await wait_for(lambda: app.side_panel.host_link.network_mode == "up", timeout_s=5, what="network up")
    await tap(result.ids.action)                                 # the same card, a fresh PIN
    pin = await show(app, "pin")
    assert pin.ids.note.text == tr("pin.again")
    await enter_pin(app, PAY_PIN)
    await show(app, "result")
    assert app.flow.payment.result_kind == "approved"
    assert due_fen(ui_host, BILL_HOUSE) == 0
