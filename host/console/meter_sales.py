"""Prepaid meter sales in the console (docs/console.md "Prepaid meters"): the
search beside the transaction search, the day's totals by utility and their
CSV. A sale shows once it is paid (a quote the resident walked away from, or a
bank card declined, moved no units and no money: the bank journal has the
decline). Quantities are integer hundredths of a unit (0.01 kWh / 0.01 m³)."""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine

from common.meter_card import MeterCardError, check_meter_number, units_text
from common.money import Money
from host import csv_cells
from host.meters.store import SOLD
from host.schema.estate import households
from host.schema.meters import meter_sales, prepaid_meters

UTILITIES = ("electricity", "water", "gas")
MAX_ROWS = 500


class BadMeterNumber(ValueError):
    """What staff typed as a meter number is not 12 digits."""


def meter_filter(text: str) -> str:
    """'' (any meter) or the 12-digit number; BadMeterNumber otherwise."""
    text = text.strip().replace(" ", "")
    if not text:
        return ""
    try:
        return check_meter_number(text)
    except MeterCardError as exc:
        raise BadMeterNumber(text) from exc


@dataclass(frozen=True, slots=True)
class MeterSaleQuery:
    day_from: date | None = None
    day_to: date | None = None
    meter_no: str = ""
    house_no: str = ""
    kiosk_id: str = ""
    limit: int = MAX_ROWS


@dataclass(frozen=True, slots=True)
class MeterSaleRow:
    at: datetime            # when it was paid
    business_day: date
    kiosk_id: str
    sale_id: str
    meter_no: str
    utility: str
    house_no: str
    count: int              # the card's purchase count of this sale
    quantity: int           # 0.01 units
    amount_fen: int
    state: str              # paid | written | confirmed | reversed
    paid_by: str            # bank | wallet
    masked_pan: str
    reference: str


@dataclass
class UtilityTotal:
    """One utility's sales of the day: sold (paid, awaiting or on the card) and
    reversed (the money given back) are never added together."""
    utility: str
    count: int = 0
    quantity: int = 0
    amount_fen: int = 0
    reversed_count: int = 0
    reversed_fen: int = 0


def _filtered(stmt: Any, query: MeterSaleQuery) -> Any:
    s = meter_sales.c
    stmt = stmt.where(s.paid_at.is_not(None))
    if query.day_from:
        stmt = stmt.where(s.business_day >= query.day_from)
    if query.day_to:
        stmt = stmt.where(s.business_day <= query.day_to)
    if query.meter_no:
        stmt = stmt.where(s.meter_no == query.meter_no)
    if query.house_no:
        stmt = stmt.where(households.c.house_no == query.house_no.strip())
    if query.kiosk_id:
        stmt = stmt.where(s.kiosk_id == query.kiosk_id)
    return stmt


def search_sales(engine: Engine, query: MeterSaleQuery) -> tuple[list[MeterSaleRow], bool]:
    """(the paid sales, newest first; truncated)."""
    s = meter_sales.c
    stmt = _filtered(select(s.paid_at, s.business_day, s.kiosk_id, s.sale_id, s.meter_no, prepaid_meters.c.utility,
                            households.c.house_no, s.count.label("purchase_count"), s.quantity, s.amount_fen, s.state, s.account_id,
                            s.masked_pan, s.reference)
                     .select_from(meter_sales.join(prepaid_meters).join(households,
                                                                        households.c.id == s.household_id)),
                     query).order_by(s.paid_at.desc(), s.id.desc()).limit(query.limit + 1)
    with engine.connect() as conn:
        rows = [MeterSaleRow(r.paid_at, r.business_day, r.kiosk_id, r.sale_id, r.meter_no, r.utility, r.house_no,
                             r.purchase_count, r.quantity, r.amount_fen, r.state,
                             "bank" if r.account_id is not None else "wallet", r.masked_pan or "",
                             r.reference or "")
                for r in conn.execute(stmt)]
    return rows[:query.limit], len(rows) > query.limit


def utility_totals(engine: Engine, query: MeterSaleQuery) -> list[UtilityTotal]:
    """The searched days' sales by utility (every utility sold, in UTILITIES order)."""
    s = meter_sales.c
    sold = s.state.in_(SOLD)
    stmt = _filtered(select(prepaid_meters.c.utility,
                            func.sum(case((sold, 1), else_=0)), func.sum(case((sold, s.quantity), else_=0)),
                            func.sum(case((sold, s.amount_fen), else_=0)),
                            func.sum(case((s.state == "reversed", 1), else_=0)),
                            func.sum(case((s.state == "reversed", s.amount_fen), else_=0)))
                     .select_from(meter_sales.join(prepaid_meters).join(households,
                                                                        households.c.id == s.household_id)),
                     query).group_by(prepaid_meters.c.utility)
    with engine.connect() as conn:
        totals = [UtilityTotal(u, int(c or 0), int(q or 0), int(a or 0), int(rc or 0), int(rf or 0))
                  for u, c, q, a, rc, rf in conn.execute(stmt)]
    return sorted(totals, key=lambda t: UTILITIES.index(t.utility) if t.utility in UTILITIES else len(UTILITIES))


def units(quantity: int) -> str:
    """0.01 units as staff read them: 12345 -> 123.45."""
    return units_text(quantity)


def _yuan(fen: int) -> str:
    return Money(fen).yuan


def _csv(rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    out.write("\ufeff")     # a BOM, as transactions.csv: Excel then reads UTF-8 Chinese right
    csv_cells.writer(out, lineterminator="\r\n").writerows(rows)   # formula-looking cells quoted
    return out.getvalue()


SALES_CSV_COLUMNS = ("at", "business_day", "kiosk_id", "sale_id", "meter_no", "utility", "house_no", "count",
                     "quantity", "amount_fen", "amount_yuan", "state", "paid_by", "masked_pan", "reference")
TOTALS_CSV_COLUMNS = ("utility", "count", "quantity", "amount_fen", "amount_yuan", "reversed_count",
                      "reversed_fen")


def sales_csv(rows: list[MeterSaleRow], totals: list[UtilityTotal]) -> str:
    """The sales, then a blank line and the totals by utility."""
    lines: list[list[object]] = [list(SALES_CSV_COLUMNS)]
    lines += [[r.at.isoformat(timespec="seconds"), r.business_day.isoformat(), r.kiosk_id, r.sale_id, r.meter_no,
               r.utility, r.house_no, r.count, units(r.quantity), r.amount_fen, _yuan(r.amount_fen), r.state,
               r.paid_by, r.masked_pan, r.reference] for r in rows]
    lines += [[], list(TOTALS_CSV_COLUMNS)]
    lines += [[t.utility, t.count, units(t.quantity), t.amount_fen, _yuan(t.amount_fen), t.reversed_count,
               t.reversed_fen] for t in totals]
    return _csv(lines)
