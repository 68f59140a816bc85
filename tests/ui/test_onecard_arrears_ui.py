"""The unpaid-fee blacklist's life cycle by touch (docs/onecard.md "Unpaid-fee
blacklist", "The screens"): listed → refused with why and the offer → the
arrears paid by bank card (swipe + PIN, over the bank link) → unlisted and
the card's black flag cleared in the same presentation → accepted. The
bench's blacklisted one-card tapped on the contactless reader of the private
pcscd, the real host (its daily blacklist run done first, as `kiosk host
serve` does at start). What the card, the registry and the bill hold is read
from them, not from the screens; each screen is saved in zh and en."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kiosk.demo.tour.bench import ic_card, press_pad, swipe
from kiosk.demo.tour.cast import PAY_CARD, PAY_PIN
from kiosk.demo.tour.onecard import BLACK_ONECARD, open_onecard, wait_receipt
from kiosk.demo.tour.screens import show
from kiosk.i18n import tr
from tests.support.kiosks import host_bill

pytestmark = [pytest.mark.ui, pytest.mark.kiosk_wallet]

BLACK_HOUSE = "3-2-1202"


def black_flag(app: Any, uid: str) -> int:
    """The card's own black flag (block 24), as the virtual card holds it."""
    from common.onecard import DEMO_MAP
    from common.onecard_blocks import PublicInfo

    return PublicInfo.decode(app.kiosk.sims.onecards[uid].block(DEMO_MAP.public_block)).black


def registry_black(host: Any, uid: str) -> bool:
    from sqlalchemy import text

    with host.engine.connect() as conn:
        return bool(conn.execute(text("SELECT black FROM onecards WHERE uid = :u"), {"u": uid}).scalar_one())


async def both(app: Any, artifacts: Any, name: str) -> None:
    from kiosk.demo.touch import frames

    for _ in range(2):
        await frames(3)
        app.kiosk_area.export_to_png(str(artifacts / f"onecard-arrears-{name}-{app.lang}.png"))
        app.toggle_language()
    await frames(2)


async def test_listed_refused_paid_unlisted_accepted(kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from common.onecard import BLACK_LISTED, BLACK_OK
    from host.onecard.blacklist import run_refresh
    from kiosk.demo.touch import tap

    app = kiosk_app
    listed = run_refresh(ui_host.engine, ui_host.settings, ui_host.clock)   # serve's run at start
    assert listed.households >= 1 and registry_black(ui_host, BLACK_ONECARD)
    due = int(host_bill(ui_host, BLACK_HOUSE)["total_due_fen"])
    assert due > 0 and black_flag(app, BLACK_ONECARD) == BLACK_LISTED

    refused = await open_onecard(app, BLACK_ONECARD, "onecard_refused")
    arrears = app.flow.cards.onecard.arrears
    assert refused.ids.title.text == tr("onecard.refused.blacklisted.title")
    assert arrears.since and arrears.owed and arrears.due
    assert refused.ids.body.text == tr("onecard.unpaid_fee", since=arrears.since, amount=arrears.owed)
    assert refused.ids.arrears.opacity == 1 and not refused.ids.arrears.disabled
    from common.money import Money

    assert refused.ids.arrears_due.value == Money(due).display()
    await both(app, artifacts, "refused-offer")

    await tap(refused.ids.arrears)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    assert app.flow.bank.purpose == "bill" and app.flow.bank.amount_text == Money(due).display()
    await press_pad(app, [*PAY_PIN, "enter"])
    result = await show(app, "onecard_result", timeout_s=30)
    await wait_receipt(app)
    steps = app.flow.cards.onecard
    assert (steps.result_kind, steps.result_title, steps.result_body) == (
        "approved", "onecard.result.arrears.title", "onecard.unblocked")
    assert steps.receipt_state == "printed" and steps.reference and result.ids.reference.value == steps.reference
    # the same presentation: the bill paid, the listing lifted, the card's flag cleared
    assert int(host_bill(ui_host, BLACK_HOUSE)["total_due_fen"]) == 0
    assert not registry_black(ui_host, BLACK_ONECARD) and black_flag(app, BLACK_ONECARD) == BLACK_OK
    receipt = (await asyncio.to_thread(app.kiosk.sims.printer.wait_for_receipt, 5.0)).text
    assert f"{due // 100}.{due % 100:02d}" in receipt and BLACK_HOUSE in receipt     # the bill's receipt
    await both(app, artifacts, "paid")

    await tap(result.ids.action)                            # done
    await show(app, "idle")
    await ic_card(app, BLACK_ONECARD, "remove")
    card = await open_onecard(app, BLACK_ONECARD)           # accepted: its balance and records
    assert card.ids.holder.text == tr("card.holder", holder="李强")
    assert card.ids.released.text == ""                     # released last time, nothing to say now
    await ic_card(app, BLACK_ONECARD, "remove")
