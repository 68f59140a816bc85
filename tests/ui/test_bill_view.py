"""The bill screen's rows, without Kivy: every figure comes from the bill."""
from __future__ import annotations

from typing import Any

from kiosk.backend_client.wire import parse_household_bill
from kiosk.screens.bill_view import bill_view


def reply(**changes: Any) -> dict[str, Any]:
    lines = [
        {"utility": "electricity", "unit": "kWh", "previous_reading": "10234.50", "current_reading": "10456.70",
         "usage": "222.20", "amount_fen": 11061,
         "tiers": [{"tier": 1, "quantity": "180.00", "unit_price": "0.4883", "amount_fen": 8789},
                   {"tier": 2, "quantity": "42.20", "unit_price": "0.5383", "amount_fen": 2272}]},
        {"utility": "property", "unit": "m2", "previous_reading": None, "current_reading": None,
         "usage": "89.50", "amount_fen": 22375,
         "tiers": [{"tier": 1, "quantity": "89.50", "unit_price": "2.50", "amount_fen": 22375}]},
    ]
    body = {"house_no": "3-2-1202", "estate": "翠湖花园", "area_m2": "89.50", "as_of": "2026-11-21",
            "current": {"period": "2026-10", "due_on": "2026-11-30", "paid": False,
                        "amount_fen": 33436, "lines": lines},
            "arrears": [{"period": "2026-09", "due_on": "2026-10-31", "days_overdue": 21,
                         "amount_fen": 48800, "late_fee_fen": 512}],
            "late_fee_fen": 512, "total_due_fen": 33436 + 48800 + 512}
    body.update(changes)
    return body


def test_itemized_rows_in_chinese() -> None:
    view = bill_view(parse_household_bill(reply()), "zh")
    texts = [(r.text, r.amount, r.kind) for r in view.rows]
    assert ("本期费用 2026-10", "¥334.36", "section") in texts
    assert ("电费", "¥110.61", "item") in texts
    assert ("读数 10234.50 → 10456.70，用量 222.20 度", "", "detail") in texts
    assert ("第2阶梯 42.20 度 × ¥0.5383", "¥22.72", "detail") in texts
    assert ("89.50 平方米 × ¥2.50/平方米", "¥223.75", "detail") in texts
    assert ("2026-09（已逾期 21 天）", "¥488.00", "item") in texts
    assert ("滞纳金", "¥5.12", "section") in texts
    assert view.total == "¥827.48" and not view.nothing_due
    assert [r.text for r in view.summary][0] == "往期欠费"


def test_nothing_due_in_english() -> None:
    raw = reply(arrears=[], late_fee_fen=0, total_due_fen=0)
    raw["current"]["paid"] = True
    view = bill_view(parse_household_bill(raw), "en")
    assert view.nothing_due and view.total == "¥0.00"
    assert [r.text for r in view.rows] == ["2026-10 is paid, thank you"]


def test_a_bill_paid_here_awaiting_its_upload_says_so() -> None:
    import dataclasses
    bill = parse_household_bill(reply())
    pending = dataclasses.replace(bill, current=dataclasses.replace(bill.current, paid=True), arrears=(),
                                  total_due=bill.total_due - bill.total_due, upload_pending=True)
    for lang, text in (("zh", "2026-10 已在本机缴费，待上传物业"), ("en", "2026-10: paid at this kiosk — upload pending")):
        view = bill_view(pending, lang)
        assert view.upload_pending and view.nothing_due
        assert [(r.text, r.kind) for r in view.current] == [(text, "note")]
    assert not bill_view(bill, "en").upload_pending
