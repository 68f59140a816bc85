"""At every supported resolution, in both languages, the idle, entry, bill and
message screens show all their text unclipped and nothing outside the kiosk
area. Screenshots go to tests/artifacts/ui/ (look at them)."""
from __future__ import annotations

from typing import Any

import pytest

from kiosk.demo.tour.cast import BILL_HOUSE, UNKNOWN_HOUSE
from kiosk.demo.tour.screens import lookup, set_out_of_service, show, type_house

from tests.support.layout import layout_problems

pytestmark = pytest.mark.ui

RESOLUTIONS = [(1024, 768), (1280, 800), (1920, 1080), (1080, 1920)]


async def resize(app: Any, width: int, height: int) -> None:
    from kivy.core.window import Window

    from kiosk.demo.bench.panel import BENCH_WIDTH
    from kiosk.demo.touch import frames, wait_for

    Window.size = (width + BENCH_WIDTH, height)
    await wait_for(lambda: tuple(map(round, app.kiosk_area.size)) == (width, height), timeout_s=10,
                   what=f"kiosk area {width}x{height}")
    await frames(3)


async def check(app: Any, name: str, artifacts: Any) -> list[str]:
    """Check the current screen in both languages; screenshot each. The language
    shown first is the one already on: a switch re-renders every screen (the
    bill's rows too), so one switch per check, not two -- under load the card
    screens' test otherwise ran past pytest's 120 s."""
    from kiosk.demo.touch import frames

    problems = []
    for lang in (app.lang, "en" if app.lang == "zh" else "zh"):
        app.lang = lang
        await frames(3)
        w, h = map(round, app.kiosk_area.size)
        app.kiosk_area.export_to_png(str(artifacts / f"{w}x{h}-{name}-{lang}.png"))
        problems += [f"{w}x{h} {name} {lang}: {p}" for p in layout_problems(app.kiosk_area, app.kiosk_area)]
    return problems


@pytest.mark.parametrize("width,height", RESOLUTIONS, ids=[f"{w}x{h}" for w, h in RESOLUTIONS])
async def test_no_clipping(kiosk_app: Any, artifacts: Any, width: int, height: int) -> None:
    from kiosk.demo.touch import tap

    app = kiosk_app
    await resize(app, width, height)
    problems = await check(app, "idle", artifacts)

    await tap(app.screen("idle").ids.pay)
    await show(app, "entry")
    await type_house(app, BILL_HOUSE)
    problems += await check(app, "entry", artifacts)

    await tap(app.screen("entry").ids.confirm)
    await show(app, "bill")
    problems += await check(app, "bill", artifacts)

    await lookup(app, UNKNOWN_HOUSE, "message")
    problems += await check(app, "message", artifacts)

    app.flow.go_idle()
    set_out_of_service(app, True)
    await show(app, "out_of_service")
    problems += await check(app, "out_of_service", artifacts)
    set_out_of_service(app, False)

    if app.side_panel is not None:
        problems += [f"{width}x{height} bench: {p}" for p in layout_problems(app.side_panel, app.side_panel)]
        app.side_panel.export_to_png(str(artifacts / f"{width}x{height}-bench.png"))
    assert not problems, "\n".join(problems)


# The card payment screens, staged through the flows' own properties (view
# models: the bank card step's for swipe and PIN, the bill payment's for
# processing and result; this checks rendering only; tests/ui/test_ui_payment.py
# drives the real payments). The longest texts of each screen are used.
PAYMENT_STATES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("swipe", "swipe", "bank", {"paper_note": "pay.paper_low", "swipe_again": True}),
    ("pin", "pin", "bank", {"card_text": "622202*********0017", "pin_digits": 3, "pin_note": "pin.wrong",
                            "pin_tries": 2}),
    ("processing", "processing", "payment", {"card_text": "622202*********0017"}),
    ("result-approved", "result", "payment", {"card_text": "622202*********0017", "result_kind": "approved",
                                              "result_title": "result.approved.title", "result_body": "result.approved",
                                              "result_action": "", "reference": "261121000001",
                                              "receipt_state": "not_printed"}),
    ("result-declined", "result", "payment", {"result_kind": "declined", "result_title": "result.declined.title",
                                              "result_body": "decline.daily_limit", "result_action": "another_card",
                                              "receipt_state": "", "reference": ""}),
    ("result-unknown", "result", "payment", {"result_kind": "unknown", "result_title": "result.unknown.title",
                                             "result_body": "error.outcome_unknown", "result_action": ""}),
]


@pytest.mark.parametrize("width,height", RESOLUTIONS, ids=[f"{w}x{h}" for w, h in RESOLUTIONS])
async def test_payment_screens_fit(kiosk_app: Any, artifacts: Any, width: int, height: int) -> None:
    from kiosk.screens.navigation import Message
    from kiosk.demo.touch import frames

    app = kiosk_app
    await resize(app, width, height)
    flow = app.flow
    for part in (flow.bank, flow.payment):
        part.amount_text, part.house_no = "¥12,345.67", "12-3-2502"
    problems: list[str] = []
    for name, screen, part, props in PAYMENT_STATES:
        for key, value in props.items():
            setattr(getattr(flow, part), key, value)
        flow.screen = screen
        await frames(3)
        problems += await check(app, name, artifacts)
    flow.show(Message("msg.no_paper.title", "msg.no_paper", action="no_receipt", back_to="bill", tone="info"))
    await frames(3)
    problems += await check(app, "message-no-paper", artifacts)
    flow.screen = "idle"
    assert not problems, "\n".join(problems)


# The card services screens (卡务), staged through the card flow's own properties
# with a card of long figures and a full history (rendering only; test_ui_wallet.py
# drives the real wallet service). The longest texts of each screen are used.
def staged_card() -> Any:
    from datetime import date, datetime, timedelta

    from common.epurse import TxnType
    from common.money import Money
    from kiosk.services.wallet_view import CardView, HistoryLine

    kinds = list(TxnType)
    history = tuple(HistoryLine(datetime(2026, 11, 21, 18, 45) - timedelta(days=3 * i), kinds[i % len(kinds)],
                                Money(99_999_99 if i == 0 else 1234_56 + i), "000000000001") for i in range(10))
    return CardView("contact", "00002601000000000001", "欧阳娜娜", Money(49_999_99), Money(999_99),
                    Money(50_000_00), Money(1_000_00), date(2036, 12, 31), history, resolved=("T1",))


CARD_STATES: list[tuple[str, str, dict[str, Any]]] = [
    ("card-insert", "card_insert", {"op": "pay", "amount_text": "¥12,345.67", "reading": True}),
    ("card", "card", {"op": "view"}),
    ("card-amount-load", "card_amount", {"op": "load", "wallet": "ED", "amount_typed": "123456.78",
                                         "amount_note": "card.amount.over_room", "amount_note_amount": "¥1.00"}),
    ("card-amount-unload", "card_amount", {"op": "unload", "wallet": "ED", "amount_typed": "",
                                           "amount_note": "card.amount.bad", "amount_note_amount": ""}),
    ("card-pin", "card_pin", {"op": "change_pin", "pin_stage": "new", "pin_digits": 4,
                              "pin_note": "card.pin.mismatch"}),
    ("card-pin-load", "card_pin", {"op": "load", "pin_stage": "card", "pin_digits": 2, "amount_text": "¥1,000.00",
                                   "pin_note": "card.pin.wrong", "pin_tries": 2}),
    ("card-wallet", "card_wallet", {"op": "pay", "amount_text": "¥12,345.67"}),
    ("card-processing", "card_processing", {"op": "unload", "amount_text": "¥49,999.99"}),
    ("card-result-approved", "card_result", {
        "op": "load", "wallet": "ED", "amount_text": "¥1,000.00", "result_kind": "approved",
        "result_title": "card.result.load.title", "result_body": "card.result.load", "result_action": "",
        "result_wallet": "ED", "result_balance": "¥49,999.99", "masked_pan": "622202*********0017",
        "reference": "W26112100001", "receipt_state": "not_printed"}),
    ("card-result-declined", "card_result", {
        "op": "load", "result_kind": "declined", "result_title": "card.result.declined.title",
        "result_body": "decline.daily_limit", "result_action": "another_card", "result_wallet": "",
        "result_balance": "", "masked_pan": "", "reference": "", "receipt_state": ""}),
    ("card-result-unknown", "card_result", {
        "op": "pay", "result_kind": "unknown", "result_title": "card.result.unknown.title",
        "result_body": "card.result.unknown", "result_action": ""}),
    ("card-tear", "card_tear", {"op": "load", "tear_tail": "0001", "tear_remaining": 58,
                                "tear_note": "card.tear.not_same"}),
]


@pytest.mark.kiosk_wallet
@pytest.mark.parametrize("width,height", RESOLUTIONS, ids=[f"{w}x{h}" for w, h in RESOLUTIONS])
async def test_card_screens_fit(kiosk_app: Any, artifacts: Any, width: int, height: int) -> None:
    from kiosk.domain.errors import CardBlacklisted
    from kiosk.screens.navigation import Message
    from kiosk.demo.touch import frames

    app = kiosk_app
    await resize(app, width, height)
    await lookup(app, BILL_HOUSE, "bill")               # the pay choice, and a bill for the wallet screen
    problems = await check(app, "bill-pay-choice", artifacts)
    flow, cards, bank = app.flow, app.flow.cards, app.flow.bank
    bank.purpose, bank.amount_text, bank.card_tail, bank.card_wallet = "load", "¥1,000.00", "0001", "ED"
    flow.screen = "swipe"
    await frames(3)
    problems += await check(app, "card-swipe-load", artifacts)
    cards.view, cards.bill = staged_card(), flow.payment.bill   # the bill the wallet would pay
    for name, screen, props in CARD_STATES:
        for key, value in props.items():
            setattr(cards, key, value)
        flow.screen = screen
        await frames(3)
        problems += await check(app, name, artifacts)
    lost = cards.message_for(CardBlacklisted("00002601000000000004"))
    abandoned = Message("card.tear.abandoned.title", "card.tear.abandoned", tone="info")
    for name, message in (("card-message-lost", lost), ("card-message-abandoned", abandoned)):
        flow.show(message)
        await frames(3)
        problems += await check(app, name, artifacts)
    problems += [f"{width}x{height} bench: {p}" for p in layout_problems(app.side_panel, app.side_panel)]
    flow.screen = "idle"
    assert not problems, "\n".join(problems)
