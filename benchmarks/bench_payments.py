"""Benchmark (not a test): durable approved card payments per second.

Seeds the demo estate into a SQLite file (WAL, synchronous=FULL: the host's
own settings) under var/, opens bench card accounts, signs the demo kiosk's
terminal on at the ISO 8583 front-end, and builds one purchase (0200) per
household that owes something (each paid once: MAC check, duplicate check,
RRN, PIN check, daily limit, debit, link journal line, one commit). The
kiosk's side (PIN blocks, sealed tracks, MACs) is built before the clock
starts; the front-end's side is timed in-process and sequentially through the
same handler its TCP server calls for each frame (host.bank.frontend
FrontEndHandler.handle: parse, MAC, session, purchase, reply MAC). Bill
payments go over ISO 8583 only since issue 16 (the JSON route this measured
is gone); the property side (the copy booking the bills) is the kiosk's
later message and not timed here. Next to it, on the same disk in the same run: raw SQLite
single-row-insert commits per second with the same pragmas. Target: the host
reaches >= 50 % of the raw commit rate. For scale it also replays a payment's
writes alone with the bare driver (the I/O floor of one payment commit).

    .venv/bin/python benchmarks/bench_payments.py [--households 20000] [--payments 5000]
                                                  [--today YYYY-MM-DD] [--quick]
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import at, bench_clock, card_expiry, parse_args, work_dir  # noqa: E402
from host.bank.accounts import seed_accounts  # noqa: E402
from host.bank.frontend.dispatch import FrontEndHandler  # noqa: E402
from common.bank8583 import fields as fld  # noqa: E402
from common.bank8583.codec import Message  # noqa: E402
from common.bank8583.framing import Header, Tpdu  # noqa: E402
from common.bank8583.keys import decode_field62, ecb_encrypt  # noqa: E402
from common.bank8583.tracks import seal_track2  # noqa: E402
from common.bank8583.wire import build, parse  # noqa: E402
from host.billing import household_bill, unpaid_periods  # noqa: E402
from host.config import DEMO_HOST_CONFIG, load_host_settings  # noqa: E402
from host.db import make_engine  # noqa: E402
from host.schema import create_tables  # noqa: E402
from host.schema.estate import households  # noqa: E402
from host.seed import seed_demo  # noqa: E402
from common.crypto import pin_block_format0  # noqa: E402
from common.demo_cards import DemoCard  # noqa: E402
from common.bank_card import luhn_ok  # noqa: E402
from common.money import Money  # noqa: E402

KIOSK, TERMINAL, MERCHANT = "KIOSK-DEMO-01", "KIOSK001", "898440350110001"   # config/host.demo.toml's terminal
TPDU, HEADER = Tpdu("0003", "0000"), Header(version="31")


def bench_pan(i: int) -> str:
    body = f"621700{i:09d}"
    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


def raw_commits(folder: Path, count: int) -> float:
    path = folder / "raw.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, txn_id TEXT NOT NULL, amount_fen INTEGER NOT NULL)")
    for i in range(200):   # warm-up
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (txn_id, amount_fen) VALUES (?, ?)", (f"W-{i}", i))
        conn.execute("COMMIT")
    started = time.perf_counter()
    for i in range(count):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (txn_id, amount_fen) VALUES (?, ?)", (f"T-{i}", i))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def raw_payment_writes(db: Path, count: int, today: date) -> float:
    """The I/O floor: a payment's writes (same tables, indexes and commit, no
    Python logic, no reads) replayed with the bare sqlite3 driver on the host's
    database after the run. Commits per second."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    account = conn.execute("SELECT id FROM bank_accounts LIMIT 1").fetchone()[0]
    day, now = today.isoformat(), f"{at(today)}.000000"
    conn.execute("INSERT OR IGNORE INTO bank_link_counters (name, value) VALUES ('raw', 0)")
    started = time.perf_counter()
    for i in range(count):
        conn.execute("BEGIN")
        conn.execute("UPDATE bank_link_counters SET value = value + 1 WHERE name = 'raw'")
        conn.execute("UPDATE bank_accounts SET balance_fen = balance_fen - 100, pin_tries = 0 WHERE id = ?", (account,))
        conn.execute("INSERT INTO bank_link_journal (terminal_id, batch, stan, kind, state, code, account_id,"
                     " masked_pan, amount_fen, rrn, auth_code, bill_ref, business_day, created_at)"
                     " VALUES ('RAW', '999999', ?, 'purchase', 'approved', '00', ?, '621700******0000', 100, ?,"
                     " '123456', 'H=3-2-1202;P=2026-10', ?, ?)", (f"{i % 1_000_000:06d}", account,
                                                                   f"9{i:011d}", day, now))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def main() -> None:  # noqa: C901
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--payments", type=int, default=5000, help="at most this many (one per household due)")
    parser.add_argument("--raw-commits", type=int, default=2000,
                        help="at least this many raw SQLite commits (more if there are more payments)")
    args = parse_args(parser, {"households": 2000, "payments": 200, "raw_commits": 200})
    today = args.today

    settings = load_host_settings(DEMO_HOST_CONFIG)
    tmk = settings.tmk(KIOSK)
    assert tmk is not None
    folder = Path(tempfile.mkdtemp(prefix="bench-payments-", dir=work_dir()))
    try:
        engine = make_engine(f"sqlite:///{folder / 'host.sqlite3'}")
        create_tables(engine)
        started = time.perf_counter()
        summary = seed_demo(engine, settings, args.households, today=today)
        cards = tuple(DemoCard(f"bench {i}", bench_pan(i), card_expiry(today), "101", "123456",
                               Money(10 ** 12), Money(10 ** 12), "active") for i in range(100))
        with engine.begin() as conn:
            seed_accounts(conn, cards, settings.bank_keys())
            numbers = conn.execute(select(households.c.house_no).order_by(households.c.id)).scalars().all()
            due = []
            for house in numbers:
                bill = household_bill(conn, house, today, settings)
                if bill["total_due_fen"]:
                    due.append((house, bill["total_due_fen"], unpaid_periods(bill)))
                if len(due) == args.payments:
                    break
        print(f"seeded {summary.households} households in {time.perf_counter() - started:.1f} s; "
              f"{len(due)} owe something and pay once each")

        link = settings.bank_link
        assert link is not None      # the demo host's [bank] front-end
        handler = FrontEndHandler(settings, link, engine, bench_clock(today))

        def exchange(mti: str, values: dict[int, object], mak: bytes | None) -> Message:
            frame = build(TPDU, HEADER, Message(mti, dict(sorted({41: TERMINAL, 42: MERCHANT, **values}.items()))), mak)
            reply = handler.handle(frame)
            assert reply is not None
            return parse(reply).message

        signed_on = exchange("0800", {11: "000001", 60: fld.Field60(fld.TYPE_MANAGEMENT, "000001",
                                                                    fld.NET_SIGN_ON).encode(), 63: "01"}, None)
        assert signed_on.fields.get(39) == "00", signed_on.fields
        keys = decode_field62(tmk, signed_on.data(62))
        batch = fld.Field60.parse(signed_on.text(60)).batch

        messages = []   # the kiosk's work, done before the clock starts
        for i, (house, amount, periods) in enumerate(due):
            card = cards[i % len(cards)]
            field35, encrypted = seal_track2(keys.tdk, card.track2.strip(";?"))
            values = {3: "000000", 4: f"{amount:012d}", 11: f"{i % 999_999 + 2:06d}", 22: "021", 25: "00",
                      26: "12", 35: field35, 49: "156", 52: ecb_encrypt(keys.pik, pin_block_format0(card.pin, card.pan)),
                      53: fld.security_control(encrypted), 60: fld.Field60(fld.TYPE_PURCHASE, batch, fld.NET_FINANCIAL).encode(),
                      63: f"H={house};P={','.join(periods)}"}
            messages.append(build(TPDU, HEADER, Message("0200", dict(sorted({41: TERMINAL, 42: MERCHANT,
                                                                               **values}.items()))), keys.mak))

        timings: list[float] = []
        started = time.perf_counter()
        for frame in messages:
            t0 = time.perf_counter()
            reply = handler.handle(frame)
            timings.append(time.perf_counter() - t0)
            code = parse(reply).message.fields.get(39) if reply is not None else None
            if code != "00":
                raise SystemExit(f"not approved: {code}")
        elapsed = time.perf_counter() - started
        engine.dispose()
        host_rate = len(messages) / elapsed
        raw_rate = raw_commits(folder, max(args.raw_commits, len(messages)))
        floor_rate = raw_payment_writes(folder / "host.sqlite3", min(3000, len(messages)), today)

        timings.sort()
        ms = [timings[int(q * (len(timings) - 1))] * 1000 for q in (0.5, 0.9, 0.99)]
        print(f"host: {len(messages)} approved payments in {elapsed:.2f} s = {host_rate:,.0f} payments/s "
              f"(p50 {ms[0]:.2f} ms, p90 {ms[1]:.2f} ms, p99 {ms[2]:.2f} ms)")
        print(f"raw SQLite (WAL, synchronous=FULL) single-row-insert commits: {raw_rate:,.0f} commits/s")
        print(f"ratio: {host_rate / raw_rate:.0%} of the raw commit rate (target >= 50 %)")
        print(f"for scale: a purchase's writes alone (3 statements, bare sqlite3, one commit): "
              f"{floor_rate:,.0f} commits/s = {floor_rate / raw_rate:.0%} of the raw rate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
