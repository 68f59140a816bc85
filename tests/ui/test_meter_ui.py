"""购电 / 购水 / 购气 by touch: the bench's meter card in the kiosk's contact
reader (a real pcscd, the real meter service), a bank card on the bench's
wallet and PIN pad, a freshly seeded host; then the bench meter takes the
card. What the card, the meter and the host hold is read from them, not the
screens."""
from __future__ import annotations

from typing import Any

import pytest

from kiosk.demo.tour.meter import METER_CARD, meter_card, meter_row, open_meter, pay_by_bank_card, quote
from kiosk.demo.touch import tap
from kiosk.i18n import tr

pytestmark = [pytest.mark.ui, pytest.mark.kiosk_wallet]


def sales(host: Any) -> list[tuple[Any, ...]]:
    from sqlalchemy import text

    with host.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT state, quantity, amount_fen, count FROM meter_sales WHERE meter_no = :m ORDER BY count"),
            {"m": METER_CARD})]


async def fits(app: Any, name: str) -> list[str]:
    """The current screen and the bench, in zh and en: nothing clipped."""
    from kiosk.demo.touch import frames
    from tests.support.layout import layout_problems

    problems = []
    for lang in ("zh", "en"):
        app.lang = lang
        await frames(3)
        problems += [f"{name} {lang}: {p}" for p in layout_problems(app.kiosk_area, app.kiosk_area)]
        problems += [f"bench {lang}: {p}" for p in layout_problems(app.side_panel, app.side_panel)]
    app.lang = "zh"
    await frames(2)
    return problems


def test_the_bench_meter_cards_are_the_hosts_seeded_meters() -> None:
    from common.demo_cards import load_test_cards
    from host.meters.store import DEMO_METERS

    assert [(m.meter, m.utility, m.house_no) for m in load_test_cards().meter_cards] == list(DEMO_METERS)


async def test_buy_by_bank_card_then_refused_until_the_meter_took_the_card(kiosk_app: Any, ui_host: Any) -> None:
    from common.meter_card import MeterReturn, Purchase

    app = kiosk_app
    card, meter = app.kiosk.sims.meter_cards[METER_CARD], app.kiosk.sims.meters[METER_CARD]
    flow = app.flow.meters
    problems = await fits(app, "idle")                    # four tiles
    screen = await open_meter(app, METER_CARD)            # blank: its number typed first
    problems += await fits(app, "meter")
    assert screen.ids.meter_no.value == METER_CARD and screen.ids.house.value == "1-1-101"
    assert not screen.ids.buy.disabled and flow.applied

    pay = await quote(app, "50")                         # 50 kWh
    problems += await fits(app, "meter_pay")
    assert pay.ids.quantity.value == "50.00 kWh" and flow.lines      # the tiers it falls in
    assert pay.ids.amount.value == flow.amount_text
    result = await pay_by_bank_card(app)
    problems += await fits(app, "meter_result")
    purchase = Purchase.decode(card.ef01())
    assert (purchase.count, purchase.quantity) == (1, 5000)          # on the card, to the unit
    assert result.ids.count.value == "1" and flow.receipt_state == "printed"
    from common.money import Money
    assert sales(ui_host) == [("confirmed", 5000, Money.parse(flow.amount_text.lstrip("¥").replace(",", "")).fen, 1)]
    await tap(result.ids.action)

    screen = await open_meter(app, METER_CARD)           # still in the kiosk: the meter has not seen it
    problems += await fits(app, "meter not applied")
    assert screen.ids.buy.disabled
    assert screen.ids.refusal.text == tr("error.meter_not_applied", app.lang)
    assert screen.ids.applied.value == tr("meter.applied.no", app.lang)
    await tap(screen.ids.cancel)

    await meter_card(app, METER_CARD, "to_meter")        # the meter applies it and writes its return file
    assert meter.state.remaining == 5000 and not meter.state.supply_cut and not meter_row(app, METER_CARD).cut
    assert MeterReturn.decode(card.ef02()).last_count == 1
    screen = await open_meter(app, METER_CARD)
    assert not screen.ids.buy.disabled and screen.ids.remaining.value == "50.00 kWh"
    assert screen.ids.applied.value == tr("meter.applied.yes", app.lang)

    await tap(screen.ids.buy)                            # over the hoarding limit (2000 kWh): said at once
    from kiosk.demo.tour.meter import meter_keys
    from kiosk.demo.touch import wait_for
    from kiosk.demo.tour.screens import show
    amount = await show(app, "meter_amount")
    await meter_keys(app, "1990")
    await tap(amount.ids.next)
    await wait_for(lambda: flow.note == "error.meter_over_limit", timeout_s=10, what="the hoarding limit")
    assert app.screens.current == "meter_amount" and len(sales(ui_host)) == 1
    problems += await fits(app, "meter_amount over the limit")
    assert not problems, "\n".join(problems)

    def pull_at_the_write(apdu: bytes) -> str | None:   # the card leaves as the secure write goes out
        if apdu[:2] == b"\x04\xd6":
            card.fault = None
            return "before"
        return None
    await meter_keys(app, ["clear"])
    card.fault = pull_at_the_write
    await meter_keys(app, "10")
    await tap(amount.ids.next)
    await show(app, "meter_pay")
    await pay_by_bank_card(app, wait_result=False)
    await wait_for(lambda: app.screens.current == "meter_insert" and flow.insert_for == "tear", timeout_s=30,
                   what="put the same card back")
    assert Purchase.decode(card.ef01()).count == 1                  # nothing written yet
    await meter_card(app, METER_CARD, "insert")                     # the same card back: the read writes it
    result = await show(app, "meter_result", timeout_s=30)
    assert result.ids.count.value == "2" and Purchase.decode(card.ef01()).count == 2
    assert [s[0] for s in sales(ui_host)] == ["confirmed", "confirmed"]


async def test_a_lost_card_is_refused_in_plain_words(kiosk_app: Any, ui_host: Any) -> None:
    from sqlalchemy import text

    with ui_host.engine.begin() as conn:
        conn.execute(text("UPDATE prepaid_meters SET card_state = 'lost' WHERE meter_no = :m"), {"m": METER_CARD})
    message = await open_meter(kiosk_app, METER_CARD)
    assert message.name == "message"
    assert kiosk_app.flow.msg_body == "error.meter_card_lost"
    assert "挂失" in tr("error.meter_card_lost", "zh")
