"""The tour's card services leg (卡务), cards moved on the bench: insert, a
load from a bank card, the card's history, a torn load finished when the card
is back, a lost card, and the bill paid from the passbook."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kiosk import ui_env  # noqa: F401  (Kivy's environment, before Kivy loads)

from kiosk.demo.tour.bench import bench, bench_tap, ic_card, press_pad, swipe
from kiosk.demo.tour.cast import CARD_HOLDER, CARD_HOLDER_PIN, LOST_CARD, PAY_CARD, PAY_PIN, WALLET_HOUSE
from kiosk.demo.tour.screens import go_home, lookup, show
from kiosk.demo.touch import find, frames, tap, wait_for
from kiosk.screens.card_widgets import PresetButton

if TYPE_CHECKING:
    from kiosk.screens.app import KioskApp

log = logging.getLogger(__name__)


async def open_card(app: KioskApp, serial: str, action: str = "insert") -> Any:
    """From wherever: 卡务 on the idle screen, then the card into a reader: the card screen."""

    if app.screens.current != "idle":
        await go_home(app)
    await tap(app.screen("idle").ids.card)
    await show(app, "card_insert")
    await ic_card(app, serial, action)
    return await show(app, "card")


async def card_tour(app: KioskApp, shot: Any) -> None:
    """The card services screens (卡务), from the idle screen, cards moved on the
    bench: insert, a load from a bank card (amount, processing if caught, the
    result with the receipt), the card with its history, a load torn by pulling
    the card and finished when it is back, a lost card, and the bill paid from
    the passbook (the pay choice, the wallet choice, the card PIN)."""

    cards = app.flow.cards

    def preset(yuan: str) -> Any:
        return find(app.screen("card_amount"), lambda w: isinstance(w, PresetButton) and w.amount.yuan == yuan)

    async def load(yuan: str) -> None:
        await tap(app.screen("card").ids.load)
        await show(app, "card_amount")
        await tap(preset(yuan))
        await frames(2)

    await tap(app.screen("idle").ids.card)
    await show(app, "card_insert")
    await frames(10)            # the cards part-way to the readers
    shot("card-insert")
    await ic_card(app, CARD_HOLDER, "insert")
    await show(app, "card")
    await load("100.00")
    shot("card-load-amount")
    await tap(app.screen("card_amount").ids.next)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await press_pad(app, [*PAY_PIN, "enter"])
    try:
        await wait_for(lambda: app.screens.current == "card_processing", timeout_s=2, what="processing")
        await frames(2)
        shot("card-processing")
    except TimeoutError:
        log.info("tour: the card centre answered too fast to catch 'processing'")
    await show(app, "card_result")
    await wait_for(lambda: cards.receipt_state not in ("", "printing"), timeout_s=15, what="the receipt")
    await frames(3)
    shot("card-load-result")
    await tap(app.screen("card_result").ids.second)     # back to my card: read afresh
    await show(app, "card")
    shot("card-history")

    await load("50.00")                                  # a tear: the card is pulled during its write
    await tap(app.screen("card_amount").ids.next)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    if not bench(app).ic_cards.tear_armed:
        await bench_tap(app, bench(app).ic_cards.ids.ic_tear)
    await press_pad(app, [*PAY_PIN, "enter"])
    await show(app, "card_tear")
    await wait_for(lambda: cards.tear_remaining < cards.tear_wait_s, timeout_s=3, what="the countdown")
    await frames(3)
    shot("card-tear")
    shot("card-tear-with-bench", with_bench=True)
    await ic_card(app, CARD_HOLDER, "insert")            # the same card back: asked, never guessed
    await show(app, "card_result")
    await wait_for(lambda: cards.receipt_state not in ("", "printing"), timeout_s=15, what="the receipt")
    shot("card-tear-finished")
    await tap(app.screen("card_result").ids.action)      # done
    await show(app, "idle")
    await ic_card(app, CARD_HOLDER, "remove")

    await tap(app.screen("idle").ids.card)
    await show(app, "card_insert")
    await ic_card(app, LOST_CARD, "tap")
    await show(app, "message")
    shot("card-lost")
    await ic_card(app, LOST_CARD, "remove")
    await tap(app.screen("message").ids.action)
    await show(app, "idle")

    bill = await lookup(app, WALLET_HOUSE, "bill")
    if bill.nothing_due:
        log.warning("tour: %s has nothing due: no pay-from-wallet screens", WALLET_HOUSE)
        return
    shot("bill-pay-choice")
    await tap(bill.ids.pay_wallet)
    await show(app, "card_insert")
    await ic_card(app, CARD_HOLDER, "insert")
    choose = await show(app, "card_wallet")
    shot("card-choose-wallet")
    if not choose.ids.ed.usable:
        log.warning("tour: the passbook holds too little to pay %s", WALLET_HOUSE)
        await tap(choose.ids.cancel)
        return
    await tap(choose.ids.ed)
    await show(app, "card_pin")
    await press_pad(app, CARD_HOLDER_PIN[:3])
    await wait_for(lambda: cards.pin_digits == 3, timeout_s=5, what="three dots")
    await frames(2)
    shot("card-pin")
    await press_pad(app, [*CARD_HOLDER_PIN[3:], "enter"], wait_entering=False)
    await show(app, "card_result")
    await wait_for(lambda: cards.receipt_state not in ("", "printing"), timeout_s=15, what="the receipt")
    shot("card-pay-result")
    await tap(app.screen("card_result").ids.action)
    await show(app, "idle")
    await ic_card(app, CARD_HOLDER, "remove")
