"""A deterministic demo estate: buildings, households, meters, an opening reading
and three months of readings, bills for those months and a mix of payment states.

Bills are made by the same billing code that imports use (host.billing), so the
demo exercises the real arithmetic. Bulk inserts (executemany) keep 100,000
households in seconds."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from host.bank.accounts import seed_accounts
from host.cards.registry import seed_cards
from host.meters.store import seed_meters
from host.onecard.registry import DEMO_ONECARDS, seed_onecards
from common.demo_cards import load_test_cards
from host.bank.keys import register_kiosk
from host.billing import bill_period, due_date, issue_date, parse_period, period_of, shift_period
from host.config import HostSettings
from host.db import bulk_insert, write_transaction
from host.schema.estate import bills, buildings, estates, meters, readings, units
from host.schema.estate import households as households_t

MIN_HOUSEHOLDS = 2000

# Documented in docs/host.md; tests rely on them.
DEMO_HOUSES = {
    "paid_up": "1-1-101",          # every month paid: nothing due
    "current_only": "2-1-601",     # latest month unpaid, not yet overdue
    "one_arrear": "2-2-902",       # one earlier month unpaid + the latest
    "arrears": "3-2-1202",         # two earlier months unpaid (overdue, late fee) + the latest
}
_FORCED = {house: scenario for scenario, house in DEMO_HOUSES.items()}
_UNPAID = {"paid_up": 0, "current_only": 1, "one_arrear": 2, "arrears": 3}   # months unpaid, newest first

# Seasonal usage in percent of a household's base, January..December.
_SEASON = {
    "electricity": (125, 115, 100, 90, 95, 120, 150, 155, 110, 90, 100, 120),   # heating / air-con
    "water": (85, 85, 90, 95, 105, 115, 125, 125, 110, 100, 90, 85),
    "gas": (160, 150, 120, 90, 70, 60, 55, 55, 65, 85, 120, 150),               # wall-hung boilers
}
_BASE_X100 = {"electricity": 17000, "water": 1000, "gas": 1300}   # per 100 m2 per month, hundredths
_OPENING_X100 = {"electricity": (100_000, 2_000_000), "water": (10_000, 150_000), "gas": (5_000, 100_000)}


class AlreadySeeded(Exception):
    pass


@dataclass(frozen=True, slots=True)
class SeedSummary:
    households: int
    readings: int
    bills: int
    periods: tuple[str, ...]        # billed months, oldest first
    seconds: float
    accounts: int = 0               # bank card accounts opened from config/test-cards.toml
    kiosks: int = 0                 # kiosks of the configured fleet registered
    ic_cards: int = 0               # IC wallet cards registered in the card centre

    def __str__(self) -> str:
        return (f"seeded {self.households} households, {self.readings} readings, {self.bills} bills "
                f"for {', '.join(self.periods)}, {self.accounts} bank card accounts, "
                f"{self.ic_cards} IC cards, {self.kiosks} kiosks in {self.seconds:.1f} s")


def _layout(rng: random.Random, count: int) -> list[tuple[int, int, str, int]]:
    """(building, unit, room, area_x100) in house order; rooms are floor + door
    (1202 = floor 12, door 02); one floor plan per stack of doors in a unit."""
    houses: list[tuple[int, int, str, int]] = []
    building = 0
    while len(houses) < count:
        building += 1
        n_units, n_floors, n_doors = rng.randint(4, 6), rng.randint(18, 30), rng.randint(2, 4)
        for unit in range(1, n_units + 1):
            plans = [rng.randint(60, 180) * 100 + rng.choice((0, 0, 20, 50, 80)) for _ in range(n_doors)]
            if (building, unit) == (3, 2):
                plans[1] = 8950   # 3-2-1202: 89.50 m2, as in docs/host-api.md
            for floor in range(1, n_floors + 1):
                for door in range(1, n_doors + 1):
                    houses.append((building, unit, f"{floor}{door:02d}", plans[door - 1]))
                    if len(houses) == count:
                        return houses
    return houses


def _scenario(rng: random.Random, house_no: str) -> str:
    if house_no in _FORCED:
        return _FORCED[house_no]
    roll = rng.randrange(100)
    return "paid_up" if roll < 55 else "current_only" if roll < 80 else "one_arrear" if roll < 93 else "arrears"


def _usages(rng: random.Random, area_x100: int, months: list[int]) -> dict[str, list[int]]:
    """Monthly usage in hundredths for each utility (months 1..12); some flats stand empty."""
    vacant = rng.randrange(100) < 3
    habits = {u: rng.randint(55, 160) for u in _BASE_X100}   # household's own habits, percent
    result: dict[str, list[int]] = {}
    for utility, base in _BASE_X100.items():
        series = []
        for month in months:
            usage = base * area_x100 // 10000 * habits[utility] * _SEASON[utility][month - 1] // 10000
            usage = usage * rng.randint(85, 115) // 100
            if vacant:
                usage = rng.randint(0, 800) if utility == "electricity" else 0   # fridge on standby
            series.append(usage)
        result[utility] = series
    return result


def seed_demo(engine: Engine, settings: HostSettings, households: int = MIN_HOUSEHOLDS, *,
              today: date, seed: int = 1202, meters: bool = True, onecards: bool = True) -> SeedSummary:
    """Seed an empty database (AlreadySeeded if it holds households). Bills the
    last three complete months before `today`. `meters`: the demo's prepaid
    meters too, when the config has [meters] (host.meters.store.DEMO_METERS)."""
    if households < MIN_HOUSEHOLDS:
        raise ValueError(f"the demo estate needs at least {MIN_HOUSEHOLDS} households")
    bank_keys = settings.bank_keys()      # ConfigError without [bank]: before anything is written
    started = time.perf_counter()
    rng = random.Random(seed)
    billed = [shift_period(period_of(today), -k) for k in (3, 2, 1)]
    all_periods = [shift_period(billed[0], -1)] + billed      # opening reading first

    with write_transaction(engine) as conn:
        if conn.execute(select(func.count()).select_from(households_t)).scalar():
            raise AlreadySeeded("the database already holds households")
        layout = _layout(rng, households)
        house_ids = _insert_estate(conn, settings, layout)
        reading_rows = _insert_readings(conn, rng, layout, house_ids, all_periods)
        n_bills = sum(bill_period(conn, p, settings).created for p in billed)
        _record_payments(conn, rng, settings, layout, house_ids, billed, today)
        test_cards = load_test_cards()
        accounts = seed_accounts(conn, test_cards.cards, bank_keys)
        ic_cards = seed_cards(conn, test_cards.ic_cards, datetime.combine(today, dtime(8, 0)))
        fleet = sum(register_kiosk(conn, kiosk_id) for kiosk_id, _ in settings.kiosks)
        if onecards:
            seed_onecards(conn, DEMO_ONECARDS, today)     # the bench's one-cards (docs/onecard.md)
        if meters and settings.meters is not None:
            seed_meters(conn, {t.utility: t.hoarding_max for t in settings.meters.tariffs},
                        datetime.combine(today, dtime(8, 0)))
    return SeedSummary(len(layout), reading_rows, n_bills, tuple(billed), time.perf_counter() - started,
                       accounts, fleet, ic_cards)


def _insert_estate(conn: Connection, settings: HostSettings,
                   layout: list[tuple[int, int, str, int]]) -> dict[str, int]:
    conn.execute(insert(estates), [{"name": settings.estate_name}])
    estate_id = conn.execute(select(estates.c.id)).scalar_one()
    building_numbers = sorted({b for b, _, _, _ in layout})
    conn.execute(insert(buildings), [{"estate_id": estate_id, "number": b} for b in building_numbers])
    building_ids = dict(conn.execute(select(buildings.c.number, buildings.c.id)).all())
    unit_keys = sorted({(b, u) for b, u, _, _ in layout})
    conn.execute(insert(units), [{"building_id": building_ids[b], "number": u} for b, u in unit_keys])
    unit_ids = {(b, u): i for i, b, u in conn.execute(
        select(units.c.id, buildings.c.number, units.c.number).join(buildings))}
    bulk_insert(conn, households_t, [
        {"unit_id": unit_ids[(b, u)], "room": room, "house_no": f"{b}-{u}-{room}", "area_m2_x100": area}
        for b, u, room, area in layout])
    house_ids = dict(conn.execute(select(households_t.c.house_no, households_t.c.id)).all())
    bulk_insert(conn, meters, [{"household_id": h, "utility": u}
                                  for h in house_ids.values() for u in _BASE_X100])
    return house_ids


def _insert_readings(conn: Connection, rng: random.Random, layout: list[tuple[int, int, str, int]],
                     house_ids: dict[str, int], periods: list[str]) -> int:
    meter_ids = {(h, u): m for m, h, u in conn.execute(
        select(meters.c.id, meters.c.household_id, meters.c.utility))}
    rows: list[dict[str, object]] = []
    months = [parse_period(p)[1] for p in periods[1:]]
    for b, u, room, area in layout:
        house_no = f"{b}-{u}-{room}"
        household_id = house_ids[house_no]
        usages = _usages(rng, area, months)
        if house_no == DEMO_HOUSES["arrears"]:
            usages["electricity"][-1] = 22220          # crosses the first tier (docs/host-api.md)
        for utility, series in usages.items():
            low, high = _OPENING_X100[utility]
            value = rng.randint(low, high)
            if house_no == DEMO_HOUSES["arrears"] and utility == "electricity":
                value = 1023450 - sum(series[:-1])     # so the latest month reads 10234.50 -> 10456.70
            meter_id = meter_ids[(household_id, utility)]
            rows.append({"meter_id": meter_id, "period": periods[0], "value_x100": value, "read_at": None})
            for period, usage in zip(periods[1:], series):
                value += usage
                rows.append({"meter_id": meter_id, "period": period, "value_x100": value, "read_at": None})
    bulk_insert(conn, readings, rows)
    return len(rows)


def _record_payments(conn: Connection, rng: random.Random, settings: HostSettings,
                     layout: list[tuple[int, int, str, int]], house_ids: dict[str, int],
                     billed: list[str], today: date) -> None:
    bill_ids = {(h, p): i for i, h, p in conn.execute(
        select(bills.c.id, bills.c.household_id, bills.c.period).where(bills.c.period.in_(billed)))}
    # a bill is paid some day between its issue and its due date (or today)
    window = {p: (issue_date(p), max(0, (min(due_date(p, settings), today) - issue_date(p)).days))
              for p in billed}
    payments: list[dict[str, object]] = []
    for b, u, room, _ in layout:
        house_no = f"{b}-{u}-{room}"
        unpaid = _UNPAID[_scenario(rng, house_no)]
        for period in billed[:len(billed) - unpaid]:
            issued, days = window[period]
            day = issued + timedelta(days=rng.randint(0, days))
            paid_at = datetime.combine(day, dtime(rng.randint(8, 21), rng.randint(0, 59)))
            payments.append({"b_id": bill_ids[(house_ids[house_no], period)], "p_at": paid_at,
                             "p_ref": f"SEED-{period}-{house_no}"})
    if payments:
        conn.execute(update(bills).where(bills.c.id == bindparam("b_id"))
                     .values(paid_at=bindparam("p_at"), paid_ref=bindparam("p_ref")), payments)
