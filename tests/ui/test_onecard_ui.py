"""The estate one-card in 卡务 by touch: the bench's virtual MIFARE cards
tapped on the contactless reader of a real (private) pcscd, the real one-card
service and host (freshly seeded, the one-cards of DEMO_ONECARDS). What the
card, the host's mirror and the bills hold afterwards is read from the card
and the host, not the screens."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kiosk.demo.tour.bench import bench, bench_tap, ic_card, press_pad
from kiosk.demo.tour.cast import PAY_PIN
from kiosk.demo.tour.onecard import (FUNDED_ONECARD, ROLLED_BACK_ONECARD, load_to_pin, open_onecard,
                                     wait_receipt)
from kiosk.demo.tour.screens import show
from kiosk.i18n import tr
from tests.support.kiosks import host_bill

pytestmark = [pytest.mark.ui, pytest.mark.kiosk_wallet]

FUNDED_HOUSE = "2-1-601"


def purse(app: Any, uid: str) -> int:
    """The purse as the virtual card itself holds it (block 8)."""
    from common.onecard import DEMO_MAP
    from common.onecard_blocks import decode_value

    return decode_value(app.kiosk.sims.onecards[uid].block(DEMO_MAP.purse_block))[0]


def mirror(host: Any, uid: str) -> tuple[int, int]:
    from sqlalchemy import text

    with host.engine.connect() as conn:
        row = conn.execute(text("SELECT balance_fen, txn_count FROM onecards WHERE uid = :u"), {"u": uid}).one()
    return int(row[0]), int(row[1])


def money(fen: int) -> str:
    from common.money import Money

    return Money(fen).display()


async def test_load_from_a_bank_card_then_the_records_show_it(kiosk_app: Any, ui_host: Any) -> None:
    app = kiosk_app
    before = purse(app, FUNDED_ONECARD)
    card = await open_onecard(app, FUNDED_ONECARD)
    assert card.ids.holder.text == tr("card.holder", holder="王芳")
    assert card.ids.purse.balance == money(before) == "¥1,000.00"
    assert [w.text for w in card.ids.records.children] == [tr("card.history.none")]
    await load_to_pin(app, "100.00")
    await press_pad(app, [*PAY_PIN, "enter"])
    result = await show(app, "onecard_result", timeout_s=20)
    await wait_receipt(app)
    assert app.flow.cards.onecard.result_kind == "approved"
    assert result.ids.balance.value == money(before + 10_000)
    assert purse(app, FUNDED_ONECARD) == before + 10_000 and mirror(ui_host, FUNDED_ONECARD) == (before + 10_000, 4)
    assert app.flow.cards.onecard.receipt_state == "printed"
    receipt = (await asyncio.to_thread(app.kiosk.sims.printer.wait_for_receipt, 5.0)).text
    # the one-card masked, the bank card masked, the amount, the purse after
    assert "****0001" in receipt and "100.00" in receipt and "1100.00" in receipt and "0017" in receipt
    await tap_done(app)
    await ic_card(app, FUNDED_ONECARD, "remove")

    card = await open_onecard(app, FUNDED_ONECARD)
    rows = list(reversed(card.ids.records.children))      # newest first, top down
    assert len(rows) == 1
    assert (rows[0].what, rows[0].amount, rows[0].balance) == (tr("onecard.txn.LOAD"), "+¥100.00", "¥1,100.00")


async def tap_done(app: Any) -> None:
    from kiosk.demo.touch import tap

    await tap(app.screen("onecard_result").ids.action)
    await show(app, "idle")


async def test_pay_the_household_bill_from_the_card(kiosk_app: Any, ui_host: Any) -> None:
    from kiosk.demo.touch import tap

    app = kiosk_app
    due = int(host_bill(ui_host, FUNDED_HOUSE)["total_due_fen"])
    assert 0 < due <= 100_000
    before = purse(app, FUNDED_ONECARD)
    card = await open_onecard(app, FUNDED_ONECARD)
    await tap(card.ids.pay)
    bill = await show(app, "onecard_bill", timeout_s=20)
    assert bill.total == money(due) and bill.after == money(before - due) and not bill.ids.confirm.disabled
    await tap(bill.ids.confirm)
    await show(app, "onecard_result", timeout_s=20)
    await wait_receipt(app)
    assert app.flow.cards.onecard.result_kind == "approved"
    assert purse(app, FUNDED_ONECARD) == before - due == mirror(ui_host, FUNDED_ONECARD)[0]
    assert int(host_bill(ui_host, FUNDED_HOUSE)["total_due_fen"]) == 0


async def test_the_rolled_back_card_is_refused_for_the_property_office(kiosk_app: Any, ui_host: Any) -> None:
    app = kiosk_app
    refused = await open_onecard(app, ROLLED_BACK_ONECARD, "onecard_refused")
    assert refused.ids.title.text == tr("onecard.refused.needs_staff.title")
    assert refused.ids.body.text == tr("onecard.refused.needs_staff")
    assert refused.ids.arrears.opacity == 0             # only a blacklisted card, and only once that path exists
    assert purse(app, ROLLED_BACK_ONECARD) == 12_000 and mirror(ui_host, ROLLED_BACK_ONECARD) == (8_000, 6)


async def test_a_load_torn_by_pulling_the_card_is_finished_when_it_is_back(kiosk_app: Any, ui_host: Any) -> None:
    app = kiosk_app
    before = purse(app, FUNDED_ONECARD)
    await open_onecard(app, FUNDED_ONECARD)
    await load_to_pin(app, "50.00")
    await bench_tap(app, bench(app).ic_cards.ids.ic_tear)   # pulled right after the purse's value operation
    await press_pad(app, [*PAY_PIN, "enter"])
    await show(app, "card_tear", timeout_s=20)
    assert app.flow.cards.tear_tail == FUNDED_ONECARD[-4:]
    assert mirror(ui_host, FUNDED_ONECARD)[0] == before     # the host waits for the card's proof
    await ic_card(app, FUNDED_ONECARD, "tap")
    result = await show(app, "onecard_result", timeout_s=20)
    await wait_receipt(app)
    assert app.flow.cards.onecard.result_kind == "approved"
    assert result.ids.balance.value == money(before + 5_000)
    assert purse(app, FUNDED_ONECARD) == before + 5_000 == mirror(ui_host, FUNDED_ONECARD)[0]


def staged_view() -> Any:
    """A one-card with wide figures and ten records (the purse's top), for the layout check."""
    from common.money import Money
    from kiosk.services.onecard_card import OneCardView, RecordLine

    records = tuple(RecordLine(10 - i, (1, 5, 7, 8)[i % 4], Money(99_999_99 if i == 0 else 1234_56 + i),
                               Money(167_772_15 - i), "000001", "11211845") for i in range(10))
    return OneCardView("B1C20001", "欧阳娜娜", "12-3-2502", Money(167_772_15), 9, records, ("T1",))


ONECARD_STATES: list[tuple[str, dict[str, Any]]] = [
    ("onecard", {}),
    ("onecard_amount", {}),
    ("onecard_bill", {}),
    ("onecard_result", {"kind": "load", "result_kind": "approved", "result_title": "onecard.result.load.title",
                        "result_body": "onecard.result.load", "amount_text": "¥99,999.99",
                        "result_balance": "¥167,772.15", "masked_pan": "622202*********0017",
                        "reference": "M26112112345", "receipt_state": "not_printed"}),
    ("onecard_result", {"kind": "load", "result_kind": "declined", "result_title": "onecard.result.not_applied.title",
                        "result_body": "onecard.result.not_applied.load", "result_balance": "",
                        "reference": "", "receipt_state": ""}),
    ("onecard_refused", {"refused_code": "needs_staff", "refused_uid": "B1C20003"}),
    ("onecard_refused", {"refused_code": "blacklisted", "refused_uid": "B1C20002",
                         "arrears_offer": lambda uid, house: None}),   # why, and the offer (onecard_arrears.py)
]


async def test_onecard_screens_fit(kiosk_app: Any, artifacts: Any) -> None:
    """Every one-card screen, staged with the widest figures, in both languages,
    at the smallest landscape and the portrait resolution: no text clipped."""
    from kivy.core.window import Window

    from kiosk.demo.bench.panel import BENCH_WIDTH
    from kiosk.demo.touch import frames, wait_for
    from tests.support.layout import layout_problems

    app = kiosk_app
    flow, cards = app.flow, app.flow.cards
    steps = cards.onecard
    bill = await app.kiosk.bills.lookup("3-2-1202")             # arrears, a late fee and the latest month
    problems: list[str] = []
    for width, height in ((1024, 768), (1080, 1920)):
        Window.size = (width + BENCH_WIDTH, height)
        await wait_for(lambda: tuple(map(round, app.kiosk_area.size)) == (width, height), timeout_s=10,
                       what=f"kiosk area {width}x{height}")
        steps.view, steps.bill, cards.op, cards.amount_typed = staged_view(), bill, "onecard_load", "99999.99"
        arrears = steps.arrears                                 # the widest reason and amount to pay
        arrears.since, arrears.owed, arrears.due = "2026-10-01", "¥99,999.99", "¥199,999.99"
        for n, (screen, props) in enumerate(ONECARD_STATES):
            for key, value in props.items():
                setattr(steps, key, value)
            flow.screen = screen
            for lang in ("zh", "en"):
                app.lang = lang
                await frames(3)
                app.kiosk_area.export_to_png(str(artifacts / f"{width}x{height}-{screen}-{n}-{lang}.png"))
                problems += [f"{width}x{height} {screen}#{n} {lang}: {p}"
                             for p in layout_problems(app.kiosk_area, app.kiosk_area)]
        assert steps.view is not None
        app.lang = "zh"
    steps.arrears_offer = arrears.offer
    arrears.reset()
    flow.screen = "idle"
    assert not problems, "\n".join(problems)
