"""The tour's 银行卡服务 leg: the choice, a balance (zh and en), a PIN change
with two different new PINs first, the PIN changed, and back to the demo
card's own PIN (so the next tour's card still knows its PIN), a decline."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiosk import ui_env  # noqa: F401  (Kivy's environment, before Kivy loads)

from kiosk.demo.tour.bench import enter_pin, swipe
from kiosk.demo.tour.cast import DECLINE_CARD, DECLINE_PIN, PAY_CARD, PAY_PIN
from kiosk.demo.tour.screens import show
from kiosk.demo.touch import frames, tap, wait_for

if TYPE_CHECKING:
    from kiosk.screens.app import KioskApp

TOUR_NEW_PIN = "246810"


async def _choose(app: KioskApp, op: str) -> None:
    await tap(app.screen("idle").ids.bankcard)
    choice = await show(app, "bankcard_choose")
    await tap(choice.ids[op])
    await show(app, "swipe")


async def _both_languages(app: KioskApp, shot: Any, name: str) -> None:
    shot(f"{name}-zh")
    await tap(app.screen(app.screens.current).ids.bar.ids.lang)
    await frames(3)
    shot(f"{name}-en")
    await tap(app.screen(app.screens.current).ids.bar.ids.lang)
    await frames(2)


async def _change_pin(app: KioskApp, old: str, new: str, shot: Any | None) -> None:
    await _choose(app, "pin_change")
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    if shot is not None:
        await _both_languages(app, shot, "bankcard-pin-old")
    await enter_pin(app, old)
    await wait_for(lambda: app.flow.bank.pin_note == "bankcard.pin.new", timeout_s=10, what="the new PIN")
    await enter_pin(app, new)
    await wait_for(lambda: app.flow.bank.pin_note == "bankcard.pin.again", timeout_s=10, what="the new PIN again")
    if shot is not None:
        await enter_pin(app, new[::-1])                  # not the same: asked again, nothing sent
        await wait_for(lambda: app.flow.bank.pin_note == "bankcard.pin.mismatch", timeout_s=10, what="mismatch")
        await frames(3)
        await _both_languages(app, shot, "bankcard-pin-mismatch")
        await enter_pin(app, new)
        await wait_for(lambda: app.flow.bank.pin_note == "bankcard.pin.again", timeout_s=10, what="again")
    await enter_pin(app, new)
    await show(app, "bankcard_result")
    if shot is not None:
        await _both_languages(app, shot, "bankcard-pin-changed")
    await tap(app.screen("bankcard_result").ids.action)
    await show(app, "idle")


async def bankcard_tour(app: KioskApp, shot: Any) -> None:
    await tap(app.screen("idle").ids.bankcard)
    await show(app, "bankcard_choose")
    await _both_languages(app, shot, "bankcard-choose")
    await tap(app.screen("bankcard_choose").ids.balance)
    await show(app, "swipe")
    shot("bankcard-swipe")
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    shot("bankcard-pin")
    await enter_pin(app, PAY_PIN)
    await show(app, "bankcard_result")
    await _both_languages(app, shot, "bankcard-balance")
    await tap(app.screen("bankcard_result").ids.print)
    await wait_for(lambda: app.flow.bankcards.receipt_state not in ("", "printing"), timeout_s=15, what="the slip")
    await frames(3)
    shot("bankcard-balance-printed")
    await tap(app.screen("bankcard_result").ids.action)
    await show(app, "idle")

    await _change_pin(app, PAY_PIN, TOUR_NEW_PIN, shot)
    await _change_pin(app, TOUR_NEW_PIN, PAY_PIN, None)     # the demo card's PIN back

    await _choose(app, "balance")
    await swipe(app, DECLINE_CARD)                           # expired
    await show(app, "pin")
    await enter_pin(app, DECLINE_PIN)
    await show(app, "bankcard_result")
    await _both_languages(app, shot, "bankcard-declined")
    await tap(app.screen("bankcard_result").ids.action)
    await show(app, "idle")
