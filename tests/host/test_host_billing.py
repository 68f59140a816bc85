"""Bills from imported readings: line and month sums, arrears, late fees
(hand-computed), payment, and the wire shape the kiosk's own parser accepts."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from host.billing import UnknownHouse, bill_period, household_bill, late_fee_fen, pay_bills
from host.config import HostSettings
from host.estate import add_households
from host.readings_import import import_readings
from host.schema.estate import bills, households
from tests.support.host_env import write_csv
from kiosk.backend_client.wire import parse_household_bill
from common.errors import BadHouseNumber

from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL

# 1-1-101, 89.50 m2. Readings at the end of Jul (opening), Aug, Sep, Oct 2026.
READINGS = {
    "electricity": ["10000.00", "10180.00", "10234.50", "10456.70"],  # 180.00 | 54.50 | 222.20 kWh
    "water": ["100.00", "115.00", "130.01", "142.00"],                # 15.00 | 15.01 | 11.99 m3
    "gas": ["50.00", "50.00", "60.00", "69.18"],                      # 0 | 10.00 | 9.18 m3
}
PERIODS = ["2026-07", "2026-08", "2026-09", "2026-10"]
# Hand-computed month totals (fen):
#   Aug: elec 180 x .4883 = 87.894 -> 8789; water 15 x 5 = 7500; gas 0; property 89.5 x 2.5 = 22375
#   Sep: elec 54.5 x .4883 = 26.61235 -> 2661; water 7500 + .01 x 7 -> 7 = 7507; gas 26.30; 22375
#   Oct: elec 8789 + 42.2 x .5383 = 22.71626 -> 2272 = 11061; water 11.99 x 5 = 5995; gas 24.1434 -> 2414; 22375
AUG, SEP, OCT = 8789 + 7500 + 0 + 22375, 2661 + 7507 + 2630 + 22375, 11061 + 5995 + 2414 + 22375


@pytest.fixture
def billed(engine: Engine, settings: HostSettings, tmp_path: Path) -> Engine:
    with engine.begin() as conn:
        add_households(conn, settings.estate_name, [("1-1-101", "89.50"), ("1-1-102", "120.00")])
    rows = [f"{p},1-1-101,{u},{values[i]}" for i, p in enumerate(PERIODS) for u, values in READINGS.items()]
    summary = import_readings(engine, write_csv(tmp_path / "r.csv", rows), settings, today=date(2026, 11, 2))
    assert (summary.new_readings, summary.bills_created) == (12, 3)
    return engine


def lookup(engine: Engine, settings: HostSettings, house: str, as_of: date) -> dict:
    with engine.connect() as conn:
        reply = household_bill(conn, house, as_of, settings)
    parse_household_bill(reply)   # the kiosk's own checks: sums, types, shape
    return reply


def test_late_fee_rounds_half_up_per_month() -> None:
    rate = Decimal("0.0005")
    assert late_fee_fen(1000, 1, rate) == 1        # 0.5 fen -> 1
    assert late_fee_fen(999, 1, rate) == 0         # 0.4995 fen -> 0
    assert late_fee_fen(5000, 1, rate) == 3        # 2.5 fen -> 3 (banker's rounding would say 2)
    assert late_fee_fen(48800, 21, rate) == 512    # docs/host-api.md: 488 x 0.0005 x 21 = 5.124 yuan
    assert late_fee_fen(48800, 0, rate) == 0
    assert late_fee_fen(48800, -3, rate) == 0


def test_month_totals_lines_and_tiers(billed: Engine, settings: HostSettings) -> None:
    reply = lookup(billed, settings, "1-1-101", date(2026, 11, 21))
    current = reply["current"]
    assert (current["period"], current["issued_on"], current["due_on"]) == ("2026-10", "2026-11-01", "2026-12-01")
    assert current["amount_fen"] == OCT == 41845
    lines = {line["utility"]: line for line in current["lines"]}
    assert [line["utility"] for line in current["lines"]] == ["water", "electricity", "gas", "property"]
    electricity = lines["electricity"]
    assert (electricity["unit"], electricity["previous_reading"], electricity["current_reading"],
            electricity["usage"]) == ("kWh", "10234.50", "10456.70", "222.20")
    assert electricity["tiers"] == [
        {"tier": 1, "quantity": "180.00", "unit_price": "0.4883", "amount_fen": 8789},
        {"tier": 2, "quantity": "42.20", "unit_price": "0.5383", "amount_fen": 2272}]
    assert lines["property"] == {
        "utility": "property", "unit": "m2", "previous_reading": None, "current_reading": None,
        "usage": "89.50", "amount_fen": 22375,
        "tiers": [{"tier": 1, "quantity": "89.50", "unit_price": "2.50", "amount_fen": 22375}]}
    assert lines["gas"]["tiers"] == [{"tier": 1, "quantity": "9.18", "unit_price": "2.63", "amount_fen": 2414}]
    assert reply["area_m2"] == "89.50" and reply["estate"] == "翠湖花园"


def test_arrears_late_fees_and_total(billed: Engine, settings: HostSettings) -> None:
    reply = lookup(billed, settings, "1-1-101", date(2026, 11, 21))
    # Aug due 10-01: 51 days x 0.0005 x 386.64 = 9.85932 -> 986
    # Sep due 10-31: 21 days x 0.0005 x 351.73 = 3.693165 -> 369; Oct not yet due.
    assert reply["arrears"] == [
        {"period": "2026-08", "due_on": "2026-10-01", "days_overdue": 51, "amount_fen": AUG, "late_fee_fen": 986},
        {"period": "2026-09", "due_on": "2026-10-31", "days_overdue": 21, "amount_fen": SEP, "late_fee_fen": 369},
    ]
    assert reply["late_fee_fen"] == 986 + 369
    assert reply["total_due_fen"] == OCT + AUG + SEP + 1355 == 117037


def test_current_month_late_fee_counts_once_past_due(billed: Engine, settings: HostSettings) -> None:
    reply = lookup(billed, settings, "1-1-101", date(2026, 12, 5))
    # Oct 4 days: 418.45 x 0.002 = 0.8369 -> 84; Aug 65 days: 12.5658 -> 1257; Sep 35 days: 6.155275 -> 616
    assert [a["late_fee_fen"] for a in reply["arrears"]] == [1257, 616]
    assert reply["late_fee_fen"] == 1257 + 616 + 84
    assert reply["total_due_fen"] == OCT + AUG + SEP + 1957
    # On Oct's due date itself it is not late yet; Aug 61 days: 11.79252 -> 1179; Sep 31 days: 5.451815 -> 545
    on_due_date = lookup(billed, settings, "1-1-101", date(2026, 12, 1))
    assert [a["late_fee_fen"] for a in on_due_date["arrears"]] == [1179, 545]
    assert on_due_date["late_fee_fen"] == 1179 + 545


def test_bills_not_yet_issued_are_not_shown(billed: Engine, settings: HostSettings) -> None:
    reply = lookup(billed, settings, "1-1-101", date(2026, 9, 30))
    assert reply["current"]["period"] == "2026-08" and reply["arrears"] == []
    assert reply["total_due_fen"] == AUG and reply["late_fee_fen"] == 0


def test_paying_months(billed: Engine, settings: HostSettings) -> None:
    as_of, at = date(2026, 11, 21), datetime(2026, 11, 21, 9)
    with billed.begin() as conn:
        hid = conn.execute(select(households.c.id).where(households.c.house_no == "1-1-101")).scalar_one()
        assert pay_bills(conn, hid, ["2026-08"], reference="BANK-1", paid_at=at) == 1
        assert pay_bills(conn, hid, ["2026-08"], reference="BANK-1", paid_at=at) == 0   # already paid
    reply = lookup(billed, settings, "1-1-101", as_of)
    assert [a["period"] for a in reply["arrears"]] == ["2026-09"]
    assert reply["total_due_fen"] == OCT + SEP + 369

    with billed.begin() as conn:
        assert pay_bills(conn, hid, ["2026-10"], reference="BANK-2", paid_at=at) == 1
    reply = lookup(billed, settings, "1-1-101", as_of)
    assert reply["current"]["paid"] is True      # latest month shown even when paid
    assert reply["total_due_fen"] == SEP + 369   # the unpaid earlier month still counts

    with billed.begin() as conn:
        assert pay_bills(conn, hid, ["2026-09", "2026-05"], reference="BANK-3", paid_at=at) == 1  # no May bill
    reply = lookup(billed, settings, "1-1-101", as_of)
    assert (reply["arrears"], reply["late_fee_fen"], reply["total_due_fen"]) == ([], 0, 0)


def test_household_without_bills_and_unknown_houses(billed: Engine, settings: HostSettings) -> None:
    reply = lookup(billed, settings, "1-1-102", date(2026, 11, 21))
    assert (reply["current"], reply["arrears"], reply["total_due_fen"], reply["area_m2"]) == (None, [], 0, "120.00")
    with billed.connect() as conn:
        with pytest.raises(UnknownHouse):
            household_bill(conn, "9-9-909", date(2026, 11, 21), settings)
        with pytest.raises(BadHouseNumber):
            household_bill(conn, "9-9", date(2026, 11, 21), settings)


def test_billing_a_period_twice_issues_nothing_new(billed: Engine, settings: HostSettings) -> None:
    with billed.begin() as conn:
        before = conn.execute(select(func.count()).select_from(bills)).scalar()
        run = bill_period(conn, "2026-10", settings)
        assert (run.created, run.waiting) == (0, 0)
        assert conn.execute(select(func.count()).select_from(bills)).scalar() == before == 3


def test_household_is_billed_only_when_every_meter_is_read(
        billed: Engine, settings: HostSettings, tmp_path: Path) -> None:
    today = date(2026, 12, 2)
    first = write_csv(tmp_path / "nov-part.csv", ["2026-11,1-1-101,electricity,10600.00"])
    summary = import_readings(billed, first, settings, today=today)
    assert (summary.new_readings, summary.bills_created, summary.waiting) == (1, 0, 1)
    rest = write_csv(tmp_path / "nov-rest.csv", ["2026-11,1-1-101,water,150.00", "2026-11,1-1-101,gas,80.00"])
    summary = import_readings(billed, rest, settings, today=today)
    assert (summary.new_readings, summary.bills_created, summary.waiting) == (2, 1, 0)
    current = lookup(billed, settings, "1-1-101", today)["current"]
    # 143.30 kWh x .4883 = 69.97339 -> 6997; 8 m3 x 5 = 4000; 10.82 m3 x 2.63 = 28.4566 -> 2846
    assert current["period"] == "2026-11"
    assert current["amount_fen"] == 6997 + 4000 + 2846 + 22375
