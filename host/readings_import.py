"""Import the automatic meter-reading system's CSV export, then bill.

The whole file is checked first and refused with every problem, by line number;
nothing is written unless all of it is good (one transaction). Importing the
same file again changes nothing."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from host.billing import bill_period, parse_period, period_of, shift_period
from host.config import HostSettings
from host.db import bulk_insert, fmt_x100, write_transaction
from host.schema.estate import UTILITY_UNITS, households, meters, readings
from common.errors import BadHouseNumber
from common.house import HouseNumber

REQUIRED = ("period", "house_no", "utility", "reading")
OPTIONAL = ("read_at",)
_READING = re.compile(r"^\d{1,12}(\.\d{1,2})?$", re.ASCII)


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        message = self.message if len(self.message) <= 300 else self.message[:300] + "…"   # a huge field
        return f"line {self.line}: {message}"


class ImportRejected(Exception):
    """The file was refused; nothing was imported."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        super().__init__(f"{file}: {len(problems)} problem(s), nothing imported")
        self.file, self.problems = file, sorted(problems, key=lambda p: p.line)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    rows: int
    new_readings: int
    unchanged: int                  # already imported with the same value
    bills_created: int
    periods: tuple[str, ...]
    waiting: int = 0                # households read for a period but not billable yet

    def __str__(self) -> str:
        return (f"{self.rows} rows, {self.new_readings} new readings, {self.unchanged} already imported; "
                f"periods {', '.join(self.periods) or '-'}; {self.bills_created} bills created"
                + (f"; {self.waiting} households still missing readings" if self.waiting else ""))


@dataclass(slots=True)
class _Row:
    line: int
    period: str
    house_no: str
    utility: str
    value: int                      # hundredths
    read_at: str | None
    household_id: int = 0
    meter_id: int | None = None
    existing: int | None = field(default=None)


def _to_x100(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a field is longer than {csv.field_size_limit()} characters (an unclosed quote?)"
    return f"not readable as CSV ({exc})"


def _parse(text: str, today: date, house_ids: dict[str, int], problems: list[Problem]) -> list[_Row]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        problems.append(Problem(reader.line_num or 1, _csv_problem(exc)))
        return []
    if not header or not any(h.strip() for h in header):
        problems.append(Problem(1, f"empty file: expected a header {','.join(REQUIRED)}"))
        return []
    names = [h.strip().lower() for h in header]
    missing = [n for n in REQUIRED if n not in names]
    unknown = [n for n in names if n not in REQUIRED + OPTIONAL]
    if missing or unknown or len(set(names)) != len(names):
        problems.append(Problem(1, f"bad header {','.join(names)!r}: needs {','.join(REQUIRED)}"
                                   f" (optional {','.join(OPTIONAL)})"))
        return []
    col = {n: names.index(n) for n in names}
    this_month = period_of(today)
    rows: list[_Row] = []
    seen: dict[tuple[str, str, str], int] = {}
    while True:
        try:
            fields = next(reader, None)
        except csv.Error as exc:      # the reader cannot go on past it: the rest is not checked
            problems.append(Problem(reader.line_num, _csv_problem(exc) + "; the lines after it were not checked"))
            break
        if fields is None:
            break
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(names):
            problems.append(Problem(line, f"expected {len(names)} fields, got {len(fields)}"))
            continue
        get = {n: fields[i].strip() for n, i in col.items()}
        bad = len(problems)
        period = get["period"]
        try:
            parse_period(period)
            if period > this_month:
                problems.append(Problem(line, f"period {period} is in the future"))
        except ValueError:
            problems.append(Problem(line, f"bad period {period!r} (expected YYYY-MM)"))
        house = get["house_no"]
        try:
            house = str(HouseNumber.parse(house))
            if house not in house_ids:
                problems.append(Problem(line, f"unknown house {house}"))
        except BadHouseNumber:
            problems.append(Problem(line, f"bad house number {house!r} (expected building-unit-room)"))
        utility = get["utility"].lower()
        if utility not in UTILITY_UNITS:
            problems.append(Problem(line, f"unknown utility {get['utility']!r} (water, electricity or gas)"))
        if not _READING.match(get["reading"]):
            problems.append(Problem(line, f"bad reading {get['reading']!r} "
                                          "(a non-negative decimal with at most 2 places)"))
        read_at = get.get("read_at") or None
        if read_at and len(read_at) > 32:     # readings.read_at is String(32)
            problems.append(Problem(line, f"bad read_at {read_at[:40]!r}… (ISO date/time, at most 32 characters)"))
        elif read_at:
            try:
                datetime.fromisoformat(read_at)
            except ValueError:
                problems.append(Problem(line, f"bad read_at {read_at!r} (ISO date/time)"))
        key = (period, house, utility)
        if key in seen:
            problems.append(Problem(line, f"duplicate row: {period} {house} {utility} is also on line {seen[key]}"))
        else:
            seen[key] = line
        if len(problems) == bad:
            rows.append(_Row(line, period, house, utility, _to_x100(get["reading"]), read_at,
                             household_id=house_ids[house]))
    if not rows and not problems:
        problems.append(Problem(1, "no readings in the file"))
    return rows


def _check_against_db(conn: Connection, rows: list[_Row], problems: list[Problem]) -> None:
    """Fill meter ids, flag changed values, and check every meter only goes up
    across the months around the file's (database and file readings together)."""
    meter_ids = {(h, u): m for m, h, u in conn.execute(
        select(meters.c.id, meters.c.household_id, meters.c.utility))}
    periods = {r.period for r in rows}
    around = sorted(periods | {shift_period(p, d) for p in periods for d in (-1, 1)})
    known: dict[tuple[int, str], dict[str, int]] = {}   # (meter) -> period -> value
    for meter_id, household_id, utility, period, value in conn.execute(
            select(readings.c.meter_id, meters.c.household_id, meters.c.utility, readings.c.period,
                   readings.c.value_x100)
            .join(meters, meters.c.id == readings.c.meter_id).where(readings.c.period.in_(around))):
        known.setdefault((household_id, utility), {})[period] = value
    merged = {k: dict(v) for k, v in known.items()}
    for row in rows:
        row.meter_id = meter_ids.get((row.household_id, row.utility))
        row.existing = known.get((row.household_id, row.utility), {}).get(row.period)
        if row.existing is not None and row.existing != row.value:
            problems.append(Problem(row.line, f"{row.period} {row.house_no} {row.utility} was already imported as "
                                              f"{fmt_x100(row.existing)}, the file says {fmt_x100(row.value)}"))
        merged.setdefault((row.household_id, row.utility), {}).setdefault(row.period, row.value)
    in_file = {(r.household_id, r.utility, r.period) for r in rows}
    for row in rows:
        series = merged[(row.household_id, row.utility)]
        before = series.get(shift_period(row.period, -1))
        after = series.get(shift_period(row.period, 1))
        if before is not None and row.value < before:
            problems.append(Problem(row.line, f"{row.house_no} {row.utility} reading {fmt_x100(row.value)} for "
                                              f"{row.period} is lower than {shift_period(row.period, -1)}'s "
                                              f"{fmt_x100(before)} (meter went backwards)"))
        # a pair of file rows is reported once, on the later row (above)
        if after is not None and row.value > after and (row.household_id, row.utility,
                                                        shift_period(row.period, 1)) not in in_file:
            problems.append(Problem(row.line, f"{row.house_no} {row.utility} reading {fmt_x100(row.value)} for "
                                              f"{row.period} is higher than {shift_period(row.period, 1)}'s "
                                              f"{fmt_x100(after)} (meter would go backwards)"))


def import_readings(engine: Engine, path: Path | str, settings: HostSettings, *,
                    today: date) -> ImportSummary:
    """Raises ImportRejected (with every problem) or returns the summary."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")   # Excel adds a BOM
    except UnicodeDecodeError:
        raise ImportRejected(str(path), [Problem(1, "not UTF-8 text")]) from None
    problems: list[Problem] = []
    with write_transaction(engine) as conn:
        house_ids = dict(conn.execute(select(households.c.house_no, households.c.id)).all())
        rows = _parse(text, today, house_ids, problems)
        if rows:
            _check_against_db(conn, rows, problems)
        if problems:
            raise ImportRejected(str(path), problems)   # rolls the transaction back

        missing = sorted({(r.household_id, r.utility) for r in rows if r.meter_id is None})
        if missing:   # a meter is known from its first reading
            conn.execute(insert(meters), [{"household_id": h, "utility": u} for h, u in missing])
            meter_ids = {(h, u): m for m, h, u in conn.execute(
                select(meters.c.id, meters.c.household_id, meters.c.utility))}
            for row in rows:
                row.meter_id = meter_ids[(row.household_id, row.utility)]
        new = [r for r in rows if r.existing is None]
        if new:
            bulk_insert(conn, readings, [
                {"meter_id": r.meter_id, "period": r.period, "value_x100": r.value, "read_at": r.read_at}
                for r in new])
        periods = tuple(sorted({r.period for r in rows}))
        runs = [bill_period(conn, p, settings) for p in periods]
    return ImportSummary(rows=len(rows), new_readings=len(new), unchanged=len(rows) - len(new),
                         bills_created=sum(r.created for r in runs), periods=periods,
                         waiting=sum(r.waiting for r in runs))
