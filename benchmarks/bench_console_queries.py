"""Benchmark (not a test): the console's day queries on a year of transactions.

Seeds a temporary SQLite file with DAYS business days of PER_DAY bank card
bill payments over the bank link (bank_link_journal, its terminals in
bank_link_sessions, property_ledger and the kiosks' property_backups, paired
by the RRN as the reconciliation pairs them) and PER_DAY // 4 wallet
transactions (card_txns), then times
what the console runs for one day: the reconciliation of a day, the
reconciliation page (14 days), a transactions search of one day and the
day-totals CSV's query. Each is run REPEAT times; the median is printed.
The year ends on --today (the reconciliation page's last day); the single-day
queries take the day in its middle.

    .venv/bin/python benchmarks/bench_console_queries.py [--days 365] [--per-day 1000] [--repeat 5]
                                                         [--today YYYY-MM-DD] [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from benchlib import parse_args  # noqa: E402
from host.billing import period_of, shift_period  # noqa: E402
from host.console.reconciliation import reconcile, recent_days  # noqa: E402
from host.console.transactions import TxnQuery, day_totals, search  # noqa: E402
from host.db import bulk_insert, make_engine  # noqa: E402
from host.schema import create_tables  # noqa: E402
from host.schema.bank import bank_link_journal, bank_link_sessions, property_backups, property_ledger  # noqa: E402
from host.schema.cards import card_txns  # noqa: E402
from host.schema.estate import buildings, estates, households, units  # noqa: E402

HOUSEHOLDS = 1000
KIOSKS = [f"KIOSK-{n:03d}" for n in range(1, 11)]
TERMINALS = {kiosk: f"T{n:07d}" for n, kiosk in enumerate(KIOSKS, 1)}    # field 41 of each kiosk


def seed(engine: object, first: date, days: int, per_day: int) -> None:
    with engine.begin() as conn:  # type: ignore[attr-defined]
        bulk_insert(conn, estates, [{"id": 1, "name": "bench"}])
        bulk_insert(conn, buildings, [{"id": 1, "estate_id": 1, "number": 1}])
        bulk_insert(conn, units, [{"id": 1, "building_id": 1, "number": 1}])
        bulk_insert(conn, households, [{"id": h, "unit_id": 1, "room": f"{h:04d}", "house_no": f"1-1-{h:04d}",
                                        "area_m2_x100": 8950} for h in range(1, HOUSEHOLDS + 1)])
        bulk_insert(conn, bank_link_sessions, [{"terminal_id": t, "kiosk_id": k, "key_version": 1, "batch": "000001"}
                                               for k, t in TERMINALS.items()])
    n = 0
    for d in range(days):
        day = first + timedelta(days=d)
        at = datetime.combine(day, datetime.min.time()) + timedelta(hours=9)
        period = shift_period(period_of(day), -1)        # the bills of last month
        lines, ledger, copies, wallet = [], [], [], []
        for i in range(per_day):
            n += 1
            kiosk = KIOSKS[n % len(KIOSKS)]
            txn_id, ref = f"T{n:012d}", f"{day:%y%m%d}{i:06d}"      # the RRN: the day and a counter
            when = (at + timedelta(seconds=i * 30)).isoformat(sep=" ")
            amount = 1000 + n % 50000
            lines.append({"terminal_id": TERMINALS[kiosk], "batch": f"{d + 1:06d}", "stan": f"{i + 1:06d}",
                          "kind": "purchase", "state": "approved", "code": "00", "masked_pan": "622848******1234",
                          "amount_fen": amount, "rrn": ref, "auth_code": "123456",
                          "bill_ref": f"H=1-1-{1 + n % HOUSEHOLDS:04d};P={period}", "business_day": day.isoformat(),
                          "created_at": when})
            ledger.append({"txn_id": txn_id, "kind": "payment", "household_id": 1 + n % HOUSEHOLDS,
                           "periods": period, "amount_fen": amount, "late_fee_fen": 0, "reference": ref,
                           "business_day": day.isoformat(), "at": when})
            copies.append({"txn_id": txn_id, "kiosk_id": kiosk, "house_no": f"1-1-{1 + n % HOUSEHOLDS:04d}",
                           "amount_fen": amount, "masked_pan": "622848******1234", "result": "approved",
                           "reference": ref, "auth_code": "123456", "at": when.replace(" ", "T"),
                           "txn_json": "{}", "received_at": when})
            if i % 4 == 0:
                wallet.append({"txn_id": f"W{n:012d}", "kiosk_id": kiosk, "serial": f"{n:020d}", "kind": "load",
                               "wallet": "EP", "amount_fen": 5000, "state": "completed",
                               "masked_pan": "622848******1234", "business_day": day.isoformat(),
                               "created_at": when})
        with engine.begin() as conn:  # type: ignore[attr-defined]
            for table, rows in ((bank_link_journal, lines), (property_ledger, ledger),
                                (property_backups, copies), (card_txns, wallet)):
                bulk_insert(conn, table, rows)


def timed(what: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        what()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parse_args(parser, {"days": 15, "per_day": 40, "repeat": 1})
    if args.days < 14:
        parser.error("--days must be at least 14 (the reconciliation page shows 14 days)")

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        create_tables(engine)
        last = args.today
        first = last - timedelta(days=args.days - 1)
        middle = first + timedelta(days=args.days // 2)
        start = time.perf_counter()
        seed(engine, first, args.days, args.per_day)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
        print(f"seeded {args.days} days x {args.per_day} card payments + {args.per_day // 4} wallet txns "
              f"in {time.perf_counter() - start:.1f} s")
        day = reconcile(engine, middle, last)   # the card payments pair by RRN: the bench times the usual day
        if day.differences or day.bank.count != args.per_day:
            raise SystemExit(f"the seeded card payments do not reconcile: {len(day.differences)} differences, "
                             f"{day.bank.count} bank lines")
        figures = {
            "reconcile one day": lambda: reconcile(engine, middle, last),
            "reconciliation page (14 days)": lambda: recent_days(engine, last),
            "search one day (first 200 rows)": lambda: search(engine, TxnQuery(day_from=middle, day_to=middle)),
            "day totals (every row of a day)": lambda: day_totals(engine, middle),
        }
        for name, what in figures.items():
            print(f"{name:34s} median {timed(what, args.repeat):8.1f} ms")


if __name__ == "__main__":
    main()
