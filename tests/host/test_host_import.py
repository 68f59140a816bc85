"""Meter-reading CSV import: every problem listed by line, nothing half-imported,
re-import idempotent, bills issued after a good import."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from host.config import HostSettings
from host.estate import add_households
from host.readings_import import ImportRejected, import_readings
from tests.support.host_env import dump, write_csv

from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL

TODAY = date(2026, 11, 5)
OPENING = ["2026-09,3-2-1202,electricity,10000.00", "2026-09,3-2-1202,water,100.00",
           "2026-09,3-2-1202,gas,50.00", "2026-09,3-2-1201,electricity,500.00"]


@pytest.fixture
def estate(engine: Engine, settings: HostSettings, tmp_path: Path) -> Engine:
    with engine.begin() as conn:
        add_households(conn, settings.estate_name, [("3-2-1202", "89.50"), ("3-2-1201", "60.00")])
    summary = import_readings(engine, write_csv(tmp_path / "opening.csv", OPENING), settings, today=TODAY)
    assert (summary.rows, summary.new_readings, summary.bills_created) == (4, 4, 0)   # opening only
    return engine


def rejected(engine: Engine, settings: HostSettings, path: Path) -> list[str]:
    before = dump(engine)
    with pytest.raises(ImportRejected) as info:
        import_readings(engine, path, settings, today=TODAY)
    assert dump(engine) == before, "a refused file must change nothing"
    return [str(p) for p in info.value.problems]


def test_good_file_imports_and_bills_then_reimport_is_a_no_op(
        estate: Engine, settings: HostSettings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "oct.csv", [
        "2026-10,3-2-1202,electricity,10222.20,2026-11-01T00:05:00",
        "2026-10,3-2-1202,water,112.5,2026-11-01T00:05:00",
        "2026-10, 3-2-1202 ,GAS,59.18,",                        # spaces and case are tolerated
        "2026-10,3-2-1201,electricity,500,2026-11-01",
        "",                                                     # blank lines are skipped
    ], header="period,house_no,utility,reading,read_at")
    summary = import_readings(estate, path, settings, today=TODAY)
    assert (summary.rows, summary.new_readings, summary.unchanged) == (4, 4, 0)
    assert (summary.periods, summary.bills_created) == (("2026-10",), 2)
    after_first = dump(estate)
    again = import_readings(estate, path, settings, today=TODAY)
    assert (again.rows, again.new_readings, again.unchanged, again.bills_created) == (4, 0, 4, 0)
    assert dump(estate) == after_first


def test_excel_bom_is_accepted(estate: Engine, settings: HostSettings, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffperiod,house_no,utility,reading\r\n2026-10,3-2-1201,electricity,510.25\r\n"
                     .encode("utf-8"))
    assert import_readings(estate, path, settings, today=TODAY).new_readings == 1


def test_every_problem_is_listed_by_line_and_nothing_is_imported(
        estate: Engine, settings: HostSettings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [
        "2026-10,3-2-1202,electricity,10222.20",   # 2: good, but must not be imported alone
        "2026-10,9-9-909,water,10.00",             # 3: unknown house
        "2026-10,3-2-1202,heat,1.00",              # 4: bad utility
        "2026-10,3-2-1202,water,12.345",           # 5: three decimals
        "2026-10,3-2-1202,gas,abc",                # 6: not a number
        "2026-10,3-2-1202,electricity,10222.20",   # 7: duplicate of line 2
        "2026-10,3-2-1201,electricity,499.99",     # 8: below September's 500.00
        "2026-09,3-2-1202,water,100.01",           # 9: September already imported as 100.00
        "2026-13,3-2-1202,water,1.00",             # 10: bad period
        "2027-01,3-2-1202,water,200.00",           # 11: future period
        "2026-10,3-2,water,1.00",                  # 12: bad house number
        "2026-10,3-2-1202,water",                  # 13: missing field
        "2026-10,3-2-1201,water,-5",               # 14: negative
    ])
    problems = rejected(estate, settings, path)
    assert problems == [
        "line 3: unknown house 9-9-909",
        "line 4: unknown utility 'heat' (water, electricity or gas)",
        "line 5: bad reading '12.345' (a non-negative decimal with at most 2 places)",
        "line 6: bad reading 'abc' (a non-negative decimal with at most 2 places)",
        "line 7: duplicate row: 2026-10 3-2-1202 electricity is also on line 2",
        "line 8: 3-2-1201 electricity reading 499.99 for 2026-10 is lower than 2026-09's 500.00 "
        "(meter went backwards)",
        "line 9: 2026-09 3-2-1202 water was already imported as 100.00, the file says 100.01",
        "line 10: bad period '2026-13' (expected YYYY-MM)",
        "line 11: period 2027-01 is in the future",
        "line 12: bad house number '3-2' (expected building-unit-room)",
        "line 13: expected 4 fields, got 3",
        "line 14: bad reading '-5' (a non-negative decimal with at most 2 places)",
    ]


def test_backwards_within_the_file_and_against_a_later_month(
        estate: Engine, settings: HostSettings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "two-months.csv", [
        "2026-10,3-2-1201,electricity,600.00",
        "2026-11,3-2-1201,electricity,590.00",     # lower than October in the same file
        "2026-08,3-2-1202,gas,55.00",              # higher than September's 50.00 already imported
    ])
    assert rejected(estate, settings, path) == [
        "line 3: 3-2-1201 electricity reading 590.00 for 2026-11 is lower than 2026-10's 600.00 "
        "(meter went backwards)",
        "line 4: 3-2-1202 gas reading 55.00 for 2026-08 is higher than 2026-09's 50.00 (meter would go backwards)",
    ]


def test_bad_headers_and_empty_files(estate: Engine, settings: HostSettings, tmp_path: Path) -> None:
    assert rejected(estate, settings, write_csv(tmp_path / "h1.csv", ["2026-10,3-2-1202,water,1.00"],
                                                header="period,house,utility,reading")) == [
        "line 1: bad header 'period,house,utility,reading': needs period,house_no,utility,reading "
        "(optional read_at)"]
    assert rejected(estate, settings, write_csv(tmp_path / "h2.csv", [],
                                                header="period,house_no,utility,reading,meter_id")
                    )[0].startswith("line 1: bad header")
    assert rejected(estate, settings, write_csv(tmp_path / "h3.csv", [])) == ["line 1: no readings in the file"]
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert rejected(estate, settings, empty)[0].startswith("line 1: empty file")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"period,house_no,utility,reading\n2026-10,3-2-1202,water,1\xff\n")
    assert rejected(estate, settings, latin) == ["line 1: not UTF-8 text"]
    bad_time = write_csv(tmp_path / "t.csv", ["2026-10,3-2-1202,water,101.00,yesterday"],
                         header="period,house_no,utility,reading,read_at")
    assert rejected(estate, settings, bad_time) == ["line 2: bad read_at 'yesterday' (ISO date/time)"]
