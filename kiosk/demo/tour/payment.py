"""The tour's bill payment leg: swipe (a damaged stripe, then a declined
card), the PIN part-typed, processing if caught, approved with the receipt
on the bench."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kiosk import ui_env  # noqa: F401  (Kivy's environment, before Kivy loads)

from kiosk.demo.tour.bench import bench, enter_pin, press_pad, sims, swipe
from kiosk.demo.tour.cast import DECLINE_CARD, DECLINE_PIN, PAY_CARD, PAY_PIN
from kiosk.demo.tour.screens import show
from kiosk.demo.touch import frames, tap, wait_for

if TYPE_CHECKING:
    from kiosk.screens.app import KioskApp

log = logging.getLogger(__name__)


async def pay_tour(app: KioskApp, house: str, shot: Any) -> None:
    """The card payment screens, from the bill on screen: swipe, a decline,
    the PIN with three digits typed, processing (if the bank is slow enough to
    catch it), approved with the receipt on the bench."""

    bill = app.screen("bill")
    if bill.nothing_due:
        log.warning("tour: %s has nothing due (paid on an earlier run?): no payment screens", house)
        return
    await tap(bill.ids.pay)
    screen = await wait_for(lambda: app.screens.current in ("swipe", "message") and not app.flow.payment.busy
                            and app.screens.current, timeout_s=10, what="the swipe screen")
    if screen == "message":     # no paper, or payments suspended
        await show(app, "message")
        shot("pay-" + app.flow.msg_title.split(".")[1].replace("_", "-"))
        if app.flow.msg_action != "no_receipt":
            return
        await tap(app.screen("message").ids.action)
    await show(app, "swipe")
    await frames(10)            # the card is part-way through the slot
    shot("swipe")
    await swipe(app, "damaged")
    await wait_for(lambda: app.flow.bank.swipe_again, timeout_s=10, what="'please swipe again'")
    await frames(3)
    shot("swipe-again")
    await swipe(app, DECLINE_CARD)
    await show(app, "pin")
    await enter_pin(app, DECLINE_PIN)
    await show(app, "result")
    shot("declined")
    await tap(app.screen("result").ids.action)          # use another card
    await show(app, "swipe")
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await press_pad(app, PAY_PIN[:3])
    await wait_for(lambda: app.flow.bank.pin_digits == 3, timeout_s=5, what="three asterisks")
    await frames(2)
    shot("pin-3-digits")
    await press_pad(app, [*PAY_PIN[3:], "enter"], wait_entering=False)
    try:
        await wait_for(lambda: app.screens.current == "processing", timeout_s=2, what="processing")
        await frames(2)
        shot("processing")
    except TimeoutError:
        log.info("tour: the bank answered too fast to catch 'processing'")
    await show(app, "result")
    panel = bench(app)
    printer = sims(app).printer
    await wait_for(lambda: app.flow.payment.receipt_state not in ("", "printing"), timeout_s=15, what="the receipt")
    if printer is not None and app.flow.payment.receipt_state == "printed":
        await wait_for(lambda: panel.printer.receipts > 0 and panel.printer.receipt_texture is not None,
                       timeout_s=5, what="the receipt on the bench")
        panel.ids.scroll.scroll_to(panel.printer, padding=12, animate=False)
    await frames(3)
    shot("approved")
    shot("approved-with-bench", with_bench=True)
    panel.ids.scroll.scroll_y = 1
    await tap(app.screen("result").ids.action)          # done
    await show(app, "idle")
