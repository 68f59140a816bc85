"""HouseholdBill -> the rows the bill screen shows, in one language. Pure
presentation (formatting and ordering); every figure comes from the bill."""
from __future__ import annotations

from dataclasses import dataclass

from kiosk.domain.bill import BillLine, HouseholdBill
from kiosk.i18n import CATALOGUE, tr


@dataclass(frozen=True, slots=True)
class BillRow:
    text: str
    amount: str = ""
    kind: str = "item"  # "section" | "item" | "detail" | "note"


@dataclass(frozen=True, slots=True)
class BillView:
    house: str
    heading: str
    subheading: str
    current: tuple[BillRow, ...]   # the latest month, itemized
    summary: tuple[BillRow, ...]   # earlier unpaid months and the late fee
    total: str
    nothing_due: bool
    upload_pending: bool = False   # paid at this kiosk, its copy still queued for the property host

    @property
    def rows(self) -> tuple[BillRow, ...]:
        return self.current + self.summary


def unit_name(unit: str, lang: str) -> str:
    key = f"unit.{unit}"
    return tr(key, lang) if key in CATALOGUE else unit


def _line_rows(line: BillLine, lang: str) -> list[BillRow]:
    unit = unit_name(line.unit, lang)
    rows = [BillRow(tr(f"utility.{line.utility}", lang), line.amount.display(), "item")]
    if line.previous_reading is not None and line.current_reading is not None:
        rows.append(BillRow(tr("bill.readings", lang, previous=line.previous_reading,
                               current=line.current_reading, usage=line.usage, unit=unit), kind="detail"))
    for tier in line.tiers:
        if line.utility == "property":
            text = tr("bill.property_rate", lang, quantity=tier.quantity, price=tier.unit_price)
        elif len(line.tiers) == 1:
            text = tr("bill.rate", lang, quantity=tier.quantity, unit=unit, price=tier.unit_price)
        else:
            text = tr("bill.tier", lang, tier=tier.tier, quantity=tier.quantity, unit=unit,
                      price=tier.unit_price)
        rows.append(BillRow(text, tier.amount.display(), "detail"))
    return rows


def bill_view(bill: HouseholdBill, lang: str) -> BillView:
    rows: list[BillRow] = []
    current = bill.current
    if current is None:
        rows.append(BillRow(tr("bill.no_bill", lang), kind="note"))
    elif current.paid and bill.upload_pending:
        rows.append(BillRow(tr("bill.paid_upload_pending", lang, period=current.period), kind="note"))
    elif current.paid:
        rows.append(BillRow(tr("bill.current_paid", lang, period=current.period), kind="note"))
    else:
        rows.append(BillRow(tr("bill.current", lang, period=current.period), current.amount.display(), "section"))
        rows.append(BillRow(tr("bill.due_on", lang, date=current.due_on.isoformat()), kind="note"))
        for line in current.lines:
            rows.extend(_line_rows(line, lang))
    summary: list[BillRow] = []
    if bill.arrears:
        summary.append(BillRow(tr("bill.arrears", lang), bill.arrears_total.display(), "section"))
        for arrear in bill.arrears:
            summary.append(BillRow(tr("bill.arrear", lang, period=arrear.period, days=arrear.days_overdue),
                                arrear.amount.display(), "item"))
    if bill.late_fee:
        summary.append(BillRow(tr("bill.late_fee", lang), bill.late_fee.display(), "section"))
        for arrear in bill.arrears:
            if arrear.late_fee:
                summary.append(BillRow(tr("bill.late_fee_detail", lang, period=arrear.period,
                                       amount=arrear.late_fee.display()), kind="detail"))
    return BillView(
        house=str(bill.house),
        heading=f"{tr('bill.house', lang, house=bill.house)} · {bill.estate}",
        subheading=f"{tr('bill.area', lang, area=bill.area_m2)} · {tr('bill.as_of', lang, date=bill.as_of.isoformat())}",
        current=tuple(rows),
        summary=tuple(summary),
        total=bill.total_due.display(),
        nothing_due=bill.nothing_due,
        upload_pending=bill.upload_pending,
    )
