"""Benchmark (not a test): durable approved card payments per second.

Seeds the demo estate into a SQLite file (WAL, synchronous=FULL: the host's
own settings) under var/, opens bench card accounts, signs a kiosk on, and
builds one payment message per household that owes something (each paid
once: bill lookup, PIN check, debit, journal, bills, ledger, stored reply,
counter, one commit). The kiosk's side (PIN blocks, MACs) is built before the
clock starts; the host's side is timed in-process and sequentially through the
same SecureChannel the HTTP endpoint calls (MAC check, counter, payment,
reply MAC). Next to it, on the same disk in the same run: raw SQLite
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
from host.bank.payments import handle_payment, handle_sign_on  # noqa: E402
from host.bank.security import SecureChannel, encode  # noqa: E402
from common.crypto import request_mac  # noqa: E402
from host.billing import household_bill, period_of, shift_period, unpaid_periods  # noqa: E402
from host.config import DEMO_HOST_CONFIG, load_host_settings  # noqa: E402
from host.db import make_engine  # noqa: E402
from host.schema import create_tables  # noqa: E402
from host.schema.estate import households  # noqa: E402
from host.seed import seed_demo  # noqa: E402
from common.crypto import pin_block_format0, tdes_encrypt, unwrap_key  # noqa: E402
from common.demo_cards import DemoCard  # noqa: E402
from common.bank_card import luhn_ok  # noqa: E402
from common.money import Money  # noqa: E402

KIOSK = "KIOSK-DEMO-01"
SIGN_ON, PAY = "/api/v1/bank/sign-on", "/api/v1/bank/payments"   # the endpoints the MACs cover


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
    # the bills the timed run paid: their references start with the business day (yymmdd)
    bill_ids = [r[0] for r in conn.execute("SELECT id FROM bills WHERE paid_ref LIKE ? LIMIT 3000",
                                           (f"{today:%y%m%d}%",))]
    if not bill_ids:
        raise SystemExit(f"no bill was paid on {today} by the timed run")
    account = conn.execute("SELECT id FROM bank_accounts LIMIT 1").fetchone()[0]
    household = conn.execute("SELECT id FROM households LIMIT 1").fetchone()[0]
    day, period = today.isoformat(), shift_period(period_of(today), -1)
    now, kiosk_time = f"{at(today)}.000000", at(today).isoformat()
    started = time.perf_counter()
    for i in range(count):
        txn, ref = f"RAW-{i}", f"9{i:011d}"
        conn.execute("BEGIN")
        cur = conn.execute(
            "INSERT INTO bank_txns (txn_id, kiosk_id, state, account_id, masked_pan, household_id, amount_fen,"
            " business_day, kiosk_time, created_at) VALUES (?, 'K', 'approved', ?, '621700******0000', ?, 100,"
            " ?, ?, ?)", (txn, account, household, day, kiosk_time, now))
        conn.execute("UPDATE bank_txns SET reference = ?, reply_json = ? WHERE id = ?", (ref, "{}" * 80, cur.lastrowid))
        conn.execute("UPDATE bank_accounts SET balance_fen = balance_fen - 100, pin_tries = 0 WHERE id = ?", (account,))
        conn.execute("UPDATE bills SET paid_at = ?, paid_ref = ? WHERE id = ?", (now, ref, bill_ids[i % len(bill_ids)]))
        conn.execute("INSERT INTO property_ledger (txn_id, kind, household_id, periods, amount_fen, late_fee_fen,"
                     " reference, business_day, at) VALUES (?, 'payment', ?, ?, 100, 0, ?, ?, ?)",
                     (txn, household, period, ref, day, now))
        conn.execute("INSERT INTO bank_journal (business_day, at, kiosk_id, txn_id, type, result, masked_pan,"
                     " amount_fen, reference, auth_code) VALUES (?, ?, 'K', ?, 'sale', 'approved',"
                     " '621700******0000', 100, ?, '123456')", (day, now, txn, ref))
        conn.execute("UPDATE kiosks SET last_counter = last_counter + 1")
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

        channel = SecureChannel(engine, settings, clock=bench_clock(today))
        counter = 1
        raw = encode({"kiosk_id": KIOSK, "counter": counter})
        keys = channel.handle(handle_sign_on, SIGN_ON, raw, request_mac(tmk, SIGN_ON, raw).hex(),
                              under_tmk=True).json()
        pik = unwrap_key(tmk, bytes.fromhex(keys["pin_key"]), bytes.fromhex(keys["pin_kcv"]))
        mak = unwrap_key(tmk, bytes.fromhex(keys["mac_key"]), bytes.fromhex(keys["mac_kcv"]))

        messages = []   # the kiosk's work, done before the clock starts
        for i, (house, amount, periods) in enumerate(due):
            counter += 1
            card = cards[i % len(cards)]
            body = encode({"kiosk_id": KIOSK, "counter": counter, "txn_id": f"{KIOSK}-{today:%Y%m%d}-{i:06d}",
                           "house_no": house, "amount_fen": amount, "periods": periods, "pan": card.pan,
                           "track2": card.track2, "expiry": card.expiry,
                           "pin_block": tdes_encrypt(pik, pin_block_format0(card.pin, card.pan)).hex().upper(),
                           "local_time": at(today).isoformat()})
            messages.append((body, request_mac(mak, PAY, body).hex().upper()))

        timings: list[float] = []
        started = time.perf_counter()
        for body, mac in messages:
            t0 = time.perf_counter()
            reply = channel.handle(handle_payment, PAY, body, mac)
            timings.append(time.perf_counter() - t0)
            if reply.status != 200 or reply.json()["result"] != "approved":
                raise SystemExit(f"not approved: {reply.status} {reply.body!r}")
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
        print(f"for scale: a payment's writes alone (7 statements, bare sqlite3, one commit): "
              f"{floor_rate:,.0f} commits/s = {floor_rate / raw_rate:.0%} of the raw rate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
