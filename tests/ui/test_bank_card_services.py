"""银行卡服务 by touch: a bank card's balance (printed only when asked), a PIN
change (two different new PINs first: asked again, nothing sent), and a
decline, against the reference bank front-end over ISO 8583 (the host's own
`BankFrontEnd`, which every fresh test host runs; the kiosk's [bank] points at it)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kiosk.demo.tour.bench import enter_pin, swipe
from kiosk.demo.tour.cast import DECLINE_CARD, DECLINE_PIN, PAY_CARD, PAY_PIN
from kiosk.demo.tour.screens import show
from kiosk.i18n import tr
from tests.support.layout import layout_problems


NEW_PIN = "246810"

pytestmark = [pytest.mark.ui, pytest.mark.kiosk_payments]


async def choose(app: Any, op: str) -> None:
    from kiosk.demo.touch import tap

    await tap(app.screen("idle").ids.bankcard)
    choice = await show(app, "bankcard_choose")
    await tap(choice.ids[op])
    await show(app, "swipe")


async def test_balance_on_screen_printed_only_when_asked(kiosk_app: Any,
                                                         artifacts: Any) -> None:
    from kiosk.demo.touch import frames, tap, wait_for

    app = kiosk_app
    await choose(app, "balance")
    await swipe(app, PAY_CARD)
    pin = await show(app, "pin")
    assert pin.ids.summary.ids.amount_label.text == tr("card.pay.balance")
    await enter_pin(app, PAY_PIN)
    result = await show(app, "bankcard_result")
    flow = app.flow.bankcards
    assert flow.result_kind == "approved" and flow.balance_text.startswith("¥")
    assert result.ids.balance.text == flow.balance_text
    assert result.ids.masked_pan.value == "622202*********0017"
    assert app.side_panel.printer.receipts == 0 and not flow.receipt_state   # nothing printed unasked
    await frames(3)
    assert not layout_problems(app.kiosk_area, result)
    app.kiosk_area.export_to_png(str(artifacts / "flow-bankcard-balance.png"))
    await tap(result.ids.print)
    slip = await asyncio.to_thread(app.kiosk.sims.printer.wait_for_receipt, 10)
    assert "622202*********0017" in slip.text and flow.balance_text.lstrip("¥").replace(",", "") in slip.text
    await wait_for(lambda: flow.receipt_state == "printed", timeout_s=10, what="'slip printed'")
    await tap(result.ids.action)                                     # Done: the balance is forgotten
    await show(app, "idle")
    assert flow.balance_text == "" and flow.card_text == ""


async def test_pin_change_asks_again_when_the_new_pins_differ(kiosk_app: Any,
                                                               artifacts: Any) -> None:
    from kiosk.demo.touch import frames, wait_for

    app = kiosk_app
    await choose(app, "pin_change")
    await swipe(app, PAY_CARD)
    pin = await show(app, "pin")
    assert pin.ids.note.text == tr("bankcard.pin.old")
    await enter_pin(app, PAY_PIN)
    await wait_for(lambda: app.flow.bank.pin_note == "bankcard.pin.new", timeout_s=10, what="the new PIN")
    await enter_pin(app, NEW_PIN)
    await wait_for(lambda: app.flow.bank.pin_note == "bankcard.pin.again", timeout_s=10, what="the new PIN again")
    await enter_pin(app, "135790")                                    # not the same: nothing is sent
    await wait_for(lambda: app.flow.bank.pin_note == "bankcard.pin.mismatch", timeout_s=10, what="mismatch")
    await frames(3)
    app.kiosk_area.export_to_png(str(artifacts / "flow-bankcard-pin-mismatch.png"))
    await enter_pin(app, NEW_PIN)
    await wait_for(lambda: app.flow.bank.pin_note == "bankcard.pin.again", timeout_s=10, what="the new PIN again")
    await enter_pin(app, NEW_PIN)
    result = await show(app, "bankcard_result")
    assert app.flow.bankcards.result_kind == "approved"
    assert result.ids.title.text == tr("bankcard.result.pin.title")
    assert result.ids.print.opacity == 0                              # nothing to print
    await frames(3)
    assert not layout_problems(app.kiosk_area, result)
    assert result.ids.action.right <= result.ids.card.right           # the one button inside its card
    # the new PIN works: a balance with it
    from kiosk.demo.touch import tap

    await tap(result.ids.action)
    await show(app, "idle")
    await choose(app, "balance")
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await enter_pin(app, NEW_PIN)
    await show(app, "bankcard_result")
    assert app.flow.bankcards.result_kind == "approved"


async def test_a_declined_card_is_told_in_plain_words(kiosk_app: Any,
                                                      artifacts: Any) -> None:
    from kiosk.demo.touch import frames, tap

    app = kiosk_app
    await choose(app, "balance")
    await swipe(app, DECLINE_CARD)                                     # expired
    await show(app, "pin")
    await enter_pin(app, DECLINE_PIN)
    result = await show(app, "bankcard_result")
    assert app.flow.bankcards.result_kind == "declined"
    assert result.ids.body.text == tr("bank.rc.54")
    assert app.flow.bankcards.balance_text == "" and result.ids.print.opacity == 0
    await frames(3)
    assert not layout_problems(app.kiosk_area, result)
    assert result.ids.action.right <= result.ids.card.right
    app.kiosk_area.export_to_png(str(artifacts / "flow-bankcard-declined.png"))
    await tap(result.ids.bar.ids.back)
    await show(app, "idle")
