"""The seeded demo estate: size, the documented demo houses, a realistic mix,
and money that adds up for every household (checked by the kiosk's parser too)."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tests.support.clocks import INSTANTS
from host.billing import due_date, household_bill, late_fee_fen, period_of, shift_period
from host.config import HostSettings
from host.db import make_engine
from host.schema import create_tables
from host.schema.estate import bills, households
from host.seed import DEMO_HOUSES, AlreadySeeded, seed_demo
from tests.support.host_env import SEED_TODAY
from kiosk.backend_client.wire import parse_household_bill

from tests.support.databases import BACKENDS, Databases

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL


@pytest.fixture(scope="module")
def replies_of() -> dict[str, dict[str, dict]]:
    return {}


@pytest.fixture
def replies(replies_of: dict[str, dict[str, dict]], seeded: tuple[HostSettings, Engine],
            backend: str) -> dict[str, dict]:
    """Every household's bill on the shared seeded estate: read once per backend for the module."""
    if backend not in replies_of:
        settings, engine = seeded
        with engine.connect() as conn:
            numbers = conn.execute(select(households.c.house_no)).scalars().all()
            replies_of[backend] = {h: household_bill(conn, h, SEED_TODAY, settings) for h in numbers}
    return replies_of[backend]


def test_size_and_layout(replies: dict[str, dict], seeded: tuple[HostSettings, Engine]) -> None:
    assert len(replies) == 2000
    _, engine = seeded
    with engine.connect() as conn:
        periods = conn.execute(select(bills.c.period, func.count()).group_by(bills.c.period)
                              .order_by(bills.c.period)).all()
    assert periods == [("2026-08", 2000), ("2026-09", 2000), ("2026-10", 2000)]
    areas = [Decimal(r["area_m2"]) for r in replies.values()]
    assert 60 <= min(areas) and max(areas) <= Decimal("180.80")
    assert all(len(h.split("-")) == 3 for h in replies)


def test_money_adds_up_for_every_household(replies: dict[str, dict]) -> None:
    for house, reply in replies.items():
        parse_household_bill(reply)   # the kiosk's own checks (types, line sums, total)
        current = reply["current"]
        assert current["amount_fen"] == sum(line["amount_fen"] for line in current["lines"]), house
        for line in current["lines"]:
            assert line["amount_fen"] == sum(t["amount_fen"] for t in line["tiers"]), house
        due_now = 0 if current["paid"] else current["amount_fen"]
        current_fee = reply["late_fee_fen"] - sum(a["late_fee_fen"] for a in reply["arrears"])
        assert current_fee == 0, house          # October is not yet due on 2026-11-21
        assert reply["total_due_fen"] == (due_now + sum(a["amount_fen"] for a in reply["arrears"])
                                          + reply["late_fee_fen"]), house


def test_a_realistic_mix_of_payment_states(replies: dict[str, dict]) -> None:
    def state(reply: dict) -> str:
        if reply["total_due_fen"] == 0:
            return "paid up"
        return f"{len(reply['arrears'])} arrears"
    mix = Counter(state(r) for r in replies.values())
    assert set(mix) == {"paid up", "0 arrears", "1 arrears", "2 arrears"}
    assert mix["paid up"] > 800 and mix["0 arrears"] > 300 and mix["1 arrears"] > 100 and mix["2 arrears"] > 50
    overdue = [a for r in replies.values() for a in r["arrears"]]
    assert all(a["days_overdue"] > 0 and a["late_fee_fen"] > 0 for a in overdue)


def test_usage_crosses_tier_boundaries(replies: dict[str, dict]) -> None:
    tiers_used = Counter((line["utility"], len(line["tiers"]))
                         for r in replies.values() for line in r["current"]["lines"])
    assert tiers_used[("electricity", 1)] and tiers_used[("electricity", 2)] and tiers_used[("electricity", 3)]
    assert tiers_used[("water", 1)] and tiers_used[("water", 2)]
    assert any(line["usage"] == "0.00" for r in replies.values() for line in r["current"]["lines"])  # empty flats


def test_documented_demo_houses(replies: dict[str, dict]) -> None:
    paid = replies[DEMO_HOUSES["paid_up"]]
    assert paid["current"]["paid"] and paid["arrears"] == [] and paid["total_due_fen"] == 0
    current_only = replies[DEMO_HOUSES["current_only"]]
    assert not current_only["current"]["paid"] and current_only["arrears"] == []
    assert current_only["total_due_fen"] == current_only["current"]["amount_fen"]
    one = replies[DEMO_HOUSES["one_arrear"]]
    assert [a["period"] for a in one["arrears"]] == ["2026-09"] and one["late_fee_fen"] > 0
    demo = replies["3-2-1202"]
    assert DEMO_HOUSES["arrears"] == "3-2-1202"
    assert demo["area_m2"] == "89.50" and not demo["current"]["paid"]
    assert [(a["period"], a["days_overdue"]) for a in demo["arrears"]] == [("2026-08", 51), ("2026-09", 21)]
    electricity = next(line for line in demo["current"]["lines"] if line["utility"] == "electricity")
    assert (electricity["previous_reading"], electricity["current_reading"]) == ("10234.50", "10456.70")
    assert electricity["amount_fen"] == 11061


def _seed(tmp_path: Path, settings: HostSettings, today: date) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / f'seed-{today}.sqlite3'}")
    create_tables(engine)
    seed_demo(engine, settings, 2000, today=today)
    return engine


def test_deterministic_and_refuses_to_seed_twice(tmp_path: Path, settings: HostSettings, databases: Databases,
                                                 backend: str, seeded: tuple[HostSettings, Engine]) -> None:
    query = select(households.c.house_no, bills.c.period, bills.c.amount_fen, bills.c.paid_at) \
        .join(bills).order_by(households.c.house_no, bills.c.period)
    with databases.empty(backend, tmp_path) as engine:
        seed_demo(engine, settings, 2000, today=SEED_TODAY)
        with engine.connect() as mine, seeded[1].connect() as shared:
            assert mine.execute(query).all() == shared.execute(query).all()
        with pytest.raises(AlreadySeeded):
            seed_demo(engine, settings, 2000, today=SEED_TODAY)
        with pytest.raises(ValueError):
            seed_demo(engine, settings, 100, today=SEED_TODAY)


ON_DUE_DAY = {"due-day": datetime(2026, 12, 1, 8, 0)}   # the day after November: September's bill falls due


@pytest.mark.parametrize("instant", [*INSTANTS.values(), *ON_DUE_DAY.values()], ids=[*INSTANTS, *ON_DUE_DAY])
def test_3_2_1202_is_overdue_whatever_the_day(tmp_path: Path, settings: HostSettings, instant: datetime) -> None:
    """Seeded as of any day (a month's end, 31 Dec, 29 Feb, 23:59:59): the three
    months before it are billed, and the demo house owes the last with arrears
    whose days overdue and late fees are counted from that day."""
    today = instant.date()
    engine = _seed(tmp_path, settings, today)
    months = [shift_period(period_of(today), -k) for k in (3, 2, 1)]
    with engine.connect() as conn:
        assert sorted(set(conn.scalars(select(bills.c.period)))) == months
        reply = household_bill(conn, "3-2-1202", today, settings)
    assert reply["as_of"] == today.isoformat()
    assert reply["current"]["period"] == months[-1] and not reply["current"]["paid"]
    assert [a["period"] for a in reply["arrears"]] == months[:2]
    for arrear in reply["arrears"]:   # the later one may fall due today: 0 days
        assert arrear["days_overdue"] == max(0, (today - due_date(arrear["period"], settings)).days)
    assert reply["arrears"][0]["days_overdue"] > 0
    assert reply["late_fee_fen"] == sum(late_fee_fen(a["amount_fen"], a["days_overdue"], settings.late_fee_daily_rate)
                                        for a in reply["arrears"]) > 0
    engine.dispose()
