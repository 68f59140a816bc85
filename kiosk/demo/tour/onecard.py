"""The tour's estate one-card leg (卡务, docs/onecard.md "The screens"), cards
tapped on the bench: the card with its balance and records, a load from a bank
card, the household's bill paid from the card, a load torn by pulling the card
and finished when it is back, the rolled-back card and the blacklisted card
refused. Each screen is shot in Chinese and in English."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kiosk import ui_env  # noqa: F401  (Kivy's environment, before Kivy loads)

from kiosk.demo.tour.bench import bench, bench_tap, ic_card, press_pad, swipe
from kiosk.demo.tour.cast import PAY_CARD, PAY_PIN
from kiosk.demo.tour.screens import go_home, receipt_settled, shoot_both, show
from kiosk.demo.touch import find, frames, tap, wait_for
from kiosk.screens.card_widgets import PresetButton

if TYPE_CHECKING:
    from kiosk.screens.app import KioskApp

log = logging.getLogger(__name__)

FUNDED_ONECARD = "B1C20001"       # 王芳, 2-1-601, ¥1,000.00 (config/test-cards.toml [[onecard]])
BLACK_ONECARD = "B1C20002"        # 李强, 3-2-1202: unpaid property fee
ROLLED_BACK_ONECARD = "B1C20003"  # 赵敏: the card holds 120.00 after 5, the host 80.00 after 6


async def open_onecard(app: KioskApp, uid: str, screen: str = "onecard") -> Any:
    """From wherever: 卡务 on the idle screen, then the one-card tapped: its screen
    (`screen`: "onecard", or "onecard_refused" for a card the host refuses)."""
    if app.screens.current != "idle":
        await go_home(app)
    await tap(app.screen("idle").ids.card)
    await show(app, "card_insert")
    await ic_card(app, uid, "tap")
    return await show(app, screen, timeout_s=20)


def onecard_preset(app: KioskApp, yuan: str) -> Any:
    return find(app.screen("onecard_amount"), lambda w: isinstance(w, PresetButton) and w.amount.yuan == yuan)


async def load_to_pin(app: KioskApp, yuan: str) -> None:
    """On the one-card screen: 圈存, a preset, Next, the bank card swiped: its PIN screen."""
    await tap(app.screen("onecard").ids.load)
    await show(app, "onecard_amount")
    await tap(onecard_preset(app, yuan))
    await frames(2)
    await tap(app.screen("onecard_amount").ids.next)
    await swipe(app, PAY_CARD)
    await show(app, "pin")


async def wait_receipt(app: KioskApp) -> None:
    await receipt_settled(app.flow.cards.onecard)


async def onecard_tour(app: KioskApp, shot: Any) -> None:
    """Every one-card screen, each in zh and en."""
    async def both(name: str) -> None:
        await shoot_both(app, shot, name)

    await open_onecard(app, FUNDED_ONECARD)
    await both("onecard")
    await tap(app.screen("onecard").ids.load)
    await show(app, "onecard_amount")
    await tap(onecard_preset(app, "100.00"))
    await both("onecard-load-amount")
    await tap(app.screen("onecard_amount").ids.next)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await press_pad(app, [*PAY_PIN, "enter"])
    await show(app, "onecard_result", timeout_s=20)
    await wait_receipt(app)
    await both("onecard-load-result")
    await tap(app.screen("onecard_result").ids.action)       # done
    await show(app, "idle")
    await ic_card(app, FUNDED_ONECARD, "remove")

    card = await open_onecard(app, FUNDED_ONECARD)             # its records now show the load
    await both("onecard-records")
    await tap(card.ids.pay)
    bill = await show(app, "onecard_bill", timeout_s=20)
    await both("onecard-bill")
    if bill.ids.confirm.disabled:
        log.warning("tour: the one-card's house has nothing due (or too much): no bill result")
        await tap(bill.ids.back)
        await show(app, "onecard")
    else:
        await tap(bill.ids.confirm)
        await show(app, "onecard_result", timeout_s=20)
        await wait_receipt(app)
        await both("onecard-bill-result")
        await tap(app.screen("onecard_result").ids.action)
        await show(app, "idle")
        await ic_card(app, FUNDED_ONECARD, "remove")
        await open_onecard(app, FUNDED_ONECARD)

    await load_to_pin(app, "50.00")                           # a tear: the card pulled during its write
    if not bench(app).ic_cards.tear_armed:
        await bench_tap(app, bench(app).ic_cards.ids.ic_tear)
    await press_pad(app, [*PAY_PIN, "enter"])
    await show(app, "card_tear", timeout_s=20)
    await both("onecard-tear")
    await ic_card(app, FUNDED_ONECARD, "tap")                  # the same card back: it proves what happened
    await show(app, "onecard_result", timeout_s=20)
    await wait_receipt(app)
    await both("onecard-tear-finished")
    await tap(app.screen("onecard_result").ids.action)
    await show(app, "idle")
    await ic_card(app, FUNDED_ONECARD, "remove")

    await open_onecard(app, ROLLED_BACK_ONECARD, "onecard_refused")
    await both("onecard-refused-office")
    await ic_card(app, ROLLED_BACK_ONECARD, "remove")
    await go_home(app)
    await blacklisted_leg(app, both)


async def blacklisted_leg(app: KioskApp, both: Any) -> None:
    """The card listed for its household's unpaid property fee. Still listed
    (its arrears unpaid): refused with why and the offer, then the arrears paid
    by bank card and the card released. Its arrears already paid (the tour's
    bank-card leg pays 3-2-1202 before this one): released at this tap. Listed
    by the registry alone (no blacklist run yet): refused with no offer."""
    if app.screens.current != "idle":
        await go_home(app)
    await tap(app.screen("idle").ids.card)
    await show(app, "card_insert")
    await ic_card(app, BLACK_ONECARD, "tap")
    await wait_for(lambda: app.screens.current in ("onecard", "onecard_refused"), timeout_s=20,
                   what="the blacklisted one-card's answer")
    refused = app.screen("onecard_refused")
    if app.screens.current == "onecard":
        await both("onecard-released")
    elif refused.arrears_shown:
        await both("onecard-arrears-offer")
        await tap(refused.ids.arrears)
        await swipe(app, PAY_CARD)
        await show(app, "pin")
        await press_pad(app, [*PAY_PIN, "enter"])
        await show(app, "onecard_result", timeout_s=30)
        await wait_receipt(app)
        await both("onecard-arrears-paid")
        await tap(app.screen("onecard_result").ids.action)
        await show(app, "idle")
    else:
        await both("onecard-refused-blacklisted")
    await ic_card(app, BLACK_ONECARD, "remove")
    await go_home(app)
