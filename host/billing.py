"""Bills from meter readings, and the bill lookup the kiosk calls.

A month's bill (period P) is issued on the 1st of the month after P and is due
`due_days` later. Each metered line uses the reading at the end of P minus the
reading at the end of the month before (the opening reading). Unpaid bills past
their due date carry a late fee of `daily_rate` × amount per day overdue."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from host.config import HostSettings, Tier
from host.db import bulk_insert, fmt_x100
from host.schema.estate import bill_lines, bills, households, meters, readings
from host.tariffs import line_amount, price_usage
from host.unpaid_fees import recheck_household
from common.house import HouseNumber
from common.money import Money

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$", re.ASCII)


class UnknownHouse(LookupError):
    """No household with that number on this estate (-> 404 house_not_found)."""


# --- periods and dates ------------------------------------------------------
def parse_period(text: str) -> tuple[int, int]:
    match = _PERIOD.match(text)
    if not match or not 2000 <= int(match.group(1)) <= 2999:
        raise ValueError(f"period {text!r} is not YYYY-MM")
    return int(match.group(1)), int(match.group(2))


def shift_period(period: str, months: int) -> str:
    year, month = parse_period(period)
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def issue_date(period: str) -> date:
    year, month = parse_period(shift_period(period, 1))
    return date(year, month, 1)


def due_date(period: str, settings: HostSettings) -> date:
    return issue_date(period) + timedelta(days=settings.due_days)


def late_fee_fen(amount_fen: int, days_overdue: int, daily_rate: Decimal) -> int:
    """amount × rate × days, rounded half up to the fen (per month, not per day)."""
    if days_overdue <= 0 or amount_fen <= 0:
        return 0
    return Money.from_decimal(Decimal(amount_fen).scaleb(-2) * daily_rate * days_overdue).fen


# --- billing -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BillingRun:
    period: str
    created: int        # bills issued by this run
    waiting: int        # households with some readings for the period but not all (no bill yet)


@lru_cache(maxsize=1 << 17)  # usages repeat a lot across an estate; tariffs are hashable
def _priced(usage_x100: int, tiers: tuple[Tier, ...]) -> tuple[str, int]:
    """(wire-shaped tiers as JSON, line amount in fen) for one usage."""
    charges = price_usage(Decimal(usage_x100).scaleb(-2), tiers)
    return json.dumps([c.wire() for c in charges], separators=(",", ":")), line_amount(charges).fen


def _lines_for(readings_by_utility: dict[str, tuple[int, int]], area_x100: int,
               settings: HostSettings) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for position, tariff in enumerate(settings.tariffs):   # water, electricity, gas, property
        utility = tariff.utility
        if utility == "property":
            previous = current = None
            usage = area_x100
        elif utility in readings_by_utility:
            previous, current = readings_by_utility[utility]
            usage = current - previous
            if usage < 0:
                raise ValueError(f"{utility} meter went backwards ({previous} -> {current})")
        else:
            continue  # the household has no such meter (e.g. no gas supply)
        tiers_json, amount = _priced(usage, tariff.tiers)
        lines.append({
            "position": position, "utility": utility, "unit": tariff.unit,
            "previous_x100": previous, "current_x100": current, "usage_x100": usage,
            "tiers_json": tiers_json, "amount_fen": amount,
        })
    return lines


def bill_period(conn: Connection, period: str, settings: HostSettings) -> BillingRun:
    """Issue bills for `period` to every household whose meters all have a reading
    for it and for the month before. Idempotent: already billed households are
    skipped (and the (household, period) unique key makes doubles impossible)."""
    previous = shift_period(period, -1)
    cur = readings.alias("cur")
    prev = readings.alias("prev")
    already = select(bills.c.household_id).where(bills.c.period == period)
    rows = conn.execute(
        select(meters.c.household_id, households.c.area_m2_x100, meters.c.utility,
               cur.c.value_x100, prev.c.value_x100)
        .join(households, households.c.id == meters.c.household_id)
        .join(cur, and_(cur.c.meter_id == meters.c.id, cur.c.period == period))
        .outerjoin(prev, and_(prev.c.meter_id == meters.c.id, prev.c.period == previous))
        .where(meters.c.household_id.not_in(already))
    ).all()
    meter_counts: dict[int, int] = dict(conn.execute(
        select(meters.c.household_id, func.count()).group_by(meters.c.household_id)).all())

    found: dict[int, tuple[int, dict[str, tuple[int, int]]]] = {}
    incomplete: set[int] = set()
    for household_id, area, utility, current, opening in rows:
        if opening is None:
            incomplete.add(household_id)
            continue
        found.setdefault(household_id, (area, {}))[1][utility] = (opening, current)
    ready = {h: v for h, v in found.items()
             if h not in incomplete and len(v[1]) == meter_counts.get(h, 0)}
    waiting = len((set(found) | incomplete) - set(ready))
    if not ready:
        return BillingRun(period, 0, waiting)

    issued, due = issue_date(period), due_date(period, settings)
    lines_by_household = {h: _lines_for(r, area, settings) for h, (area, r) in ready.items()}
    conn.execute(insert(bills), [
        {"household_id": h, "period": period, "issued_on": issued, "due_on": due,
         "amount_fen": sum(line["amount_fen"] for line in lines), "paid_at": None, "paid_ref": None}
        for h, lines in lines_by_household.items()
    ])
    # Read the new ids back rather than rely on RETURNING: portable and one query.
    bill_ids = dict(conn.execute(
        select(bills.c.household_id, bills.c.id).where(bills.c.period == period)).all())
    bulk_insert(conn, bill_lines, [
        {"bill_id": bill_ids[h], **line}
        for h, lines in lines_by_household.items() for line in lines
    ])
    return BillingRun(period, len(ready), waiting)


# --- payment -----------------------------------------------------------------
_PAY = update(bills).where(bills.c.household_id == bindparam("hid"),
                           bills.c.period.in_(bindparam("periods", expanding=True)), bills.c.paid_at.is_(None)) \
    .values(paid_at=bindparam("p_at"), paid_ref=bindparam("p_ref"))
_UNPAY = update(bills).where(bills.c.household_id == bindparam("hid"), bills.c.paid_ref == bindparam("p_ref")) \
    .values(paid_at=None, paid_ref=None)


def pay_bills(conn: Connection, household_id: int, periods: list[str], *, reference: str,
              paid_at: datetime) -> int:
    """Mark a household's unpaid bills of `periods` paid with one bank reference
    (a card payment settles several months at once). Returns how many it paid.
    A one-card listing for unpaid property fees is lifted in the same transaction."""
    paid = conn.execute(_PAY, {"hid": household_id, "periods": list(periods), "p_at": paid_at,
                               "p_ref": reference}).rowcount
    if paid:
        recheck_household(conn, household_id, paid_at)
    return paid


def unpay_bills(conn: Connection, household_id: int, reference: str, *, at: datetime | None = None) -> int:
    """Undo pay_bills (a reversal): the bills paid with `reference` are unpaid
    again, and, given the time `at`, the household listed again at once if the
    unpaid-fee rule says so (else at the next daily run)."""
    unpaid = conn.execute(_UNPAY, {"hid": household_id, "p_ref": reference}).rowcount
    if unpaid and at is not None:
        recheck_household(conn, household_id, at)
    return unpaid


def unpaid_periods(bill: dict[str, Any]) -> list[str]:
    """The months a household_bill() reply asks to be paid, oldest first."""
    periods = [a["period"] for a in bill["arrears"]]
    if bill["current"] is not None and not bill["current"]["paid"]:
        periods.append(bill["current"]["period"])
    return periods


# --- lookup (the per-request path: three indexed queries, statements built once) --
_HOUSEHOLD = select(households.c.id, households.c.house_no, households.c.area_m2_x100) \
    .where(households.c.house_no == bindparam("house_no"))
_HOUSEHOLD_ID = select(households.c.id).where(households.c.house_no == bindparam("house_no"))
_latest = select(func.max(bills.c.period)).where(
    bills.c.household_id == bindparam("hid"), bills.c.issued_on <= bindparam("as_of")).scalar_subquery()
_BILLS = select(bills.c.id, bills.c.period, bills.c.issued_on, bills.c.due_on, bills.c.amount_fen,
                bills.c.paid_at) \
    .where(bills.c.household_id == bindparam("hid"), bills.c.issued_on <= bindparam("as_of"),
           or_(bills.c.paid_at.is_(None), bills.c.period == _latest)) \
    .order_by(bills.c.period)
_LINES = select(bill_lines.c.utility, bill_lines.c.unit, bill_lines.c.previous_x100,
                bill_lines.c.current_x100, bill_lines.c.usage_x100, bill_lines.c.tiers_json,
                bill_lines.c.amount_fen) \
    .where(bill_lines.c.bill_id == bindparam("bill_id")).order_by(bill_lines.c.position)


def _opt(value: int | None) -> str | None:
    return None if value is None else fmt_x100(value)


@dataclass(frozen=True, slots=True)
class Dues:
    """What a household owes as of a day: the payment path's lean view of
    household_bill() (same query, same arithmetic; a test checks they agree)."""
    periods: tuple[str, ...]    # unpaid months, oldest first
    total_due_fen: int          # == household_bill()["total_due_fen"]
    late_fee_fen: int           # == household_bill()["late_fee_fen"]


def dues(conn: Connection, household_id: int, as_of: date, settings: HostSettings) -> Dues:
    periods: list[str] = []
    total = late = 0
    for row in conn.execute(_BILLS, {"hid": household_id, "as_of": as_of}):
        if row.paid_at is not None:
            continue
        fee = late_fee_fen(row.amount_fen, max(0, (as_of - row.due_on).days), settings.late_fee_daily_rate)
        periods.append(row.period)
        total += row.amount_fen + fee
        late += fee
    return Dues(tuple(periods), total, late)


def household_bill(conn: Connection, house_no: str, as_of: date, settings: HostSettings) -> dict[str, Any]:
    """The docs/host-api.md reply. Raises BadHouseNumber or UnknownHouse.
    Bills not yet issued as of `as_of` are not shown."""
    canonical = str(HouseNumber.parse(house_no))
    household = conn.execute(_HOUSEHOLD, {"house_no": canonical}).first()
    if household is None:
        raise UnknownHouse(canonical)
    rows = conn.execute(_BILLS, {"hid": household.id, "as_of": as_of}).all()
    rate = settings.late_fee_daily_rate

    current: dict[str, Any] | None = None
    arrears: list[dict[str, Any]] = []
    late_total = 0
    for i, row in enumerate(rows):
        overdue = max(0, (as_of - row.due_on).days) if row.paid_at is None else 0
        fee = late_fee_fen(row.amount_fen, overdue, rate)
        late_total += fee
        if i < len(rows) - 1:
            arrears.append({"period": row.period, "due_on": row.due_on.isoformat(),
                            "days_overdue": overdue, "amount_fen": row.amount_fen, "late_fee_fen": fee})
            continue
        lines = [
            {"utility": line.utility, "unit": line.unit,
             "previous_reading": _opt(line.previous_x100), "current_reading": _opt(line.current_x100),
             "usage": fmt_x100(line.usage_x100), "tiers": json.loads(line.tiers_json),
             "amount_fen": line.amount_fen}
            for line in conn.execute(_LINES, {"bill_id": row.id})
        ]
        current = {"period": row.period, "issued_on": row.issued_on.isoformat(),
                   "due_on": row.due_on.isoformat(), "paid": row.paid_at is not None,
                   "amount_fen": row.amount_fen, "lines": lines}

    current_due = current["amount_fen"] if current and not current["paid"] else 0
    return {
        "house_no": household.house_no,
        "estate": settings.estate_name,
        "area_m2": fmt_x100(household.area_m2_x100),
        "as_of": as_of.isoformat(),
        "current": current,
        "arrears": arrears,
        "late_fee_fen": late_total,
        "total_due_fen": current_due + sum(a["amount_fen"] for a in arrears) + late_total,
    }
