"""Benchmark (not a test): durable approved card payments per second, from
concurrent kiosks, on SQLite and on PostgreSQL.

Seeds the demo estate (WAL, synchronous=FULL on SQLite: the host's own
settings; fsync on for PostgreSQL) under var/ (PostgreSQL: a private server
in a temporary folder), opens bench card accounts, signs `--kiosks` terminals
on at the ISO 8583 front-end, and builds one purchase (0200) per household
that owes something (each paid once: MAC check, duplicate check, RRN, PIN
check, daily limit, debit, link journal line, commit). The kiosks' side (PIN
blocks, sealed tracks, MACs) is built before the clock starts. Then
`--kiosks` threads, one per terminal, each sends its purchases one after the
other through the handler the front-end's TCP server calls for each frame on
its worker threads (host.bank.frontend FrontEndHandler.handle: parse, MAC,
session, purchase, reply MAC), as concurrent kiosks do; a kiosk's next
purchase waits for its reply. Two ways of committing, each timed:
group commit (host.group_commit: one transaction and fsync for what queued
while the previous commit ran, each 0210 built only after its commit) and
each purchase in its own transaction.

Side by side in the same run: on SQLite, raw single-row-insert commits per
second with the same pragmas on the same disk (and, for scale, a purchase's
writes alone with the bare driver); on PostgreSQL, `pgbench -N` (its simple
update) against the same server with the same number of clients. Target
(issue 12): the host reaches >= 50 % of each. `--profile` prints where a
purchase's Python time goes (cProfile, SQLite, in place of the timed run of a
transaction each).

    .venv/bin/python benchmarks/bench_payments.py [--households 20000] [--payments 5000] [--kiosks 16]
                                                  [--pg-payments 2000] [--no-postgres] [--profile] [--today YYYY-MM-DD] [--quick]
"""
from __future__ import annotations

import argparse
import cProfile
import dataclasses
import os
import pstats
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import at, bench_clock, card_expiry, parse_args, work_dir  # noqa: E402
from host.bank.accounts import seed_accounts  # noqa: E402
from host.bank.frontend.dispatch import FrontEndHandler  # noqa: E402
from common.bank8583 import fields as fld  # noqa: E402
from common.bank8583.codec import FieldValue, Message  # noqa: E402
from common.bank8583.framing import Header, Tpdu  # noqa: E402
from common.bank8583.keys import decode_field62, ecb_encrypt  # noqa: E402
from common.bank8583.tracks import seal_track2  # noqa: E402
from common.bank8583.wire import build, parse  # noqa: E402
from host.billing import household_bill, unpaid_periods  # noqa: E402
from host.config import DEMO_HOST_CONFIG, HostSettings, load_host_settings  # noqa: E402
from host.db import make_engine, write_transaction  # noqa: E402
from host.schema import create_tables  # noqa: E402
from host.schema.estate import households  # noqa: E402
from host.seed import seed_demo  # noqa: E402
from common.crypto import pin_block_format0  # noqa: E402
from common.demo_cards import DemoCard  # noqa: E402
from common.bank_card import luhn_ok  # noqa: E402
from common.money import Money  # noqa: E402

KIOSK, MERCHANT = "KIOSK-DEMO-01", "898440350110001"   # config/host.demo.toml's kiosk
TPDU, HEADER = Tpdu("0003", "0000"), Header(version="31")


def bench_pan(i: int) -> str:
    body = f"621700{i:09d}"
    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


def raw_commits(folder: Path, count: int, name: str) -> float:
    path = folder / f"raw-{name}.sqlite3"
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



@dataclass
class Run:
    """One timed way of committing: payments, wall time, each one's latency."""
    label: str
    count: int
    elapsed: float
    timings: list[float]
    batches: int = 0

    @property
    def rate(self) -> float:
        return self.count / self.elapsed

    def line(self) -> str:
        timings = sorted(self.timings)
        ms = [timings[int(q * (len(timings) - 1))] * 1000 for q in (0.5, 0.9, 0.99)]
        grouped = f", {self.count / self.batches:.1f} payments per commit" if self.batches else ""
        return (f"{self.label}: {self.count} approved payments in {self.elapsed:.2f} s = {self.rate:,.0f} payments/s "
                f"(p50 {ms[0]:.2f} ms, p90 {ms[1]:.2f} ms, p99 {ms[2]:.2f} ms{grouped})")


class Estate:
    """A seeded host database with bench cards, and its households that owe something."""

    def __init__(self, url: str, settings: HostSettings, args: argparse.Namespace, payments: int,
                 due: list[tuple[str, int, list[str]]] | None = None) -> None:
        """`due`: take these bills' references and skip the estate (--quick on
        PostgreSQL: a purchase reads no household, and seeding is most of the time)."""
        today = args.today
        self.settings, self.today = settings, today
        self.engine = make_engine(url)
        create_tables(self.engine)
        started = time.perf_counter()
        self.cards = tuple(DemoCard(f"bench {i}", bench_pan(i), card_expiry(today), "101", "123456",
                                    Money(10 ** 12), Money(10 ** 12), "active") for i in range(8 * args.kiosks))
        if due is not None:
            with write_transaction(self.engine) as conn:
                seed_accounts(conn, self.cards, settings.bank_keys())
            self.due = due[:payments]
            self.seeded = f"no estate seeded (--quick); {len(self.due)} payments"
            return
        summary = seed_demo(self.engine, settings, args.households, today=today)
        self.due: list[tuple[str, int, list[str]]] = []
        with write_transaction(self.engine) as conn:
            seed_accounts(conn, self.cards, settings.bank_keys())
            numbers = conn.execute(select(households.c.house_no).order_by(households.c.id)).scalars().all()
            for house in numbers:
                bill = household_bill(conn, house, today, settings)
                if bill["total_due_fen"]:
                    self.due.append((house, bill["total_due_fen"], unpaid_periods(bill)))
                if len(self.due) == payments:
                    break
        self.seeded = (f"seeded {summary.households} households in {time.perf_counter() - started:.1f} s; "
                       f"{len(self.due)} owe something and pay once each")

    def frames(self, handler: FrontEndHandler, terminals: list[str]) -> list[list[bytes]]:
        """Sign each terminal on; each kiosk's purchases (its own cards: no two
        kiosks wait for one account's row lock), built before the clock starts."""
        tmk = self.settings.tmk(KIOSK)
        assert tmk is not None
        kiosks = len(terminals)
        per_kiosk: list[list[bytes]] = [[] for _ in terminals]
        sessions = []
        for terminal in terminals:
            reply = exchange(handler, terminal, "0800", {11: "000001", 60: fld.Field60(
                fld.TYPE_MANAGEMENT, "000001", fld.NET_SIGN_ON).encode(), 63: "01"}, None)
            assert reply.fields.get(39) == "00", reply.fields
            sessions.append((decode_field62(tmk, reply.data(62)), fld.Field60.parse(reply.text(60)).batch))
        for i, (house, amount, periods) in enumerate(self.due):
            k = i % kiosks
            keys, batch = sessions[k]
            card = self.cards[k + kiosks * ((i // kiosks) % (len(self.cards) // kiosks))]
            field35, encrypted = seal_track2(keys.tdk, card.track2.strip(";?"))
            values: dict[int, FieldValue] = {3: "000000", 4: f"{amount:012d}", 11: f"{i // kiosks % 999_999 + 2:06d}", 22: "021",
                      25: "00", 26: "12", 35: field35, 49: "156",
                      52: ecb_encrypt(keys.pik, pin_block_format0(card.pin, card.pan)),
                      53: fld.security_control(encrypted),
                      60: fld.Field60(fld.TYPE_PURCHASE, batch, fld.NET_FINANCIAL).encode(),
                      63: f"H={house};P={','.join(periods)}"}
            per_kiosk[k].append(build(TPDU, HEADER, Message("0200", dict(sorted(
                {41: terminals[k], 42: MERCHANT, **values}.items()))), keys.mak))
        return per_kiosk


def exchange(handler: FrontEndHandler, terminal: str, mti: str, values: dict[int, FieldValue],
             mak: bytes | None) -> Message:
    frame = build(TPDU, HEADER, Message(mti, dict(sorted({41: terminal, 42: MERCHANT, **values}.items()))), mak)
    reply = handler.handle(frame)
    assert reply is not None
    return parse(reply).message


def with_terminals(settings: HostSettings, count: int) -> HostSettings:
    """The demo host with `count` terminals of the demo kiosk (its TMK) per way of committing."""
    link = settings.bank_link
    assert link is not None      # the demo host's [bank] front-end
    terminals = tuple((f"B{i:07d}", KIOSK) for i in range(count))
    return dataclasses.replace(settings, bank_link=dataclasses.replace(link, terminals=link.terminals + terminals))


def timed(label: str, handler: FrontEndHandler, per_kiosk: list[list[bytes]]) -> Run:
    """Each kiosk's purchases from its own thread, one after the other."""
    timings: list[float] = []
    failures: list[str] = []
    replies: list[bytes | None] = []

    def kiosk(frames: list[bytes]) -> None:
        mine, answers = [], []
        for frame in frames:
            t0 = time.perf_counter()
            answers.append(handler.handle(frame))
            mine.append(time.perf_counter() - t0)
        timings.extend(mine)
        replies.extend(answers)      # looked at after the clock stops: a kiosk's work, not the host's

    threads = [threading.Thread(target=kiosk, args=(frames,)) for frames in per_kiosk]
    batches = handler.group.batches if handler.group is not None else 0
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    for reply in replies:
        code = parse(reply).message.fields.get(39) if reply is not None else None
        if code != "00":
            failures.append(f"not approved: {code!r}")
    if failures:
        raise SystemExit(f"{label}: {len(failures)} not approved, the first: {failures[0]}")
    return Run(label, sum(len(f) for f in per_kiosk), elapsed, timings,
               handler.group.batches - batches if handler.group is not None else 0)


def run_both(estate: Estate, kiosks: int, prefix: str, profile: bool) -> list[Run]:
    """Group commit, then each purchase in its own transaction, each on its own terminals."""
    runs = []
    for n, group in enumerate((True, False)):
        handler = FrontEndHandler(estate.settings, estate.settings.bank_link, estate.engine,  # type: ignore[arg-type]
                                  bench_clock(estate.today), group_commit=group)
        terminals = [f"B{n * kiosks + i:07d}" for i in range(kiosks)]
        per_kiosk = estate.frames(handler, terminals)
        label = f"{prefix}, {kiosks} kiosks, " + ("group commit" if group else "a transaction each")
        if profile and not group:
            profiled(handler, per_kiosk)
        else:
            runs.append(timed(label, handler, per_kiosk))
        handler.close()
    return runs


def profiled(handler: FrontEndHandler, per_kiosk: list[list[bytes]]) -> None:
    """--profile: the purchases one after the other in this thread under
    cProfile (the Python time per purchase, which the GIL serialises anyway)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for frames in per_kiosk:
        for frame in frames:
            handler.handle(frame)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(45)


def pgbench(server: Any, database: str, clients: int, seconds: int) -> float:
    """pgbench's simple update (-N) transactions per second on `database` (initialised at scale 1)."""
    tool = str(server.bin_dir / "pgbench")
    common = ["-h", "127.0.0.1", "-p", str(server.port), "-U", "kiosk_test"]
    subprocess.run([tool, *common, "-i", "-q", "-s", "1", database], check=True, capture_output=True)
    done = subprocess.run([tool, *common, "-N", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
                           database], check=True, capture_output=True, text=True)
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    assert found is not None, done.stdout
    return float(found.group(1))


def postgres(settings: HostSettings, args: argparse.Namespace, due: list[tuple[str, int, list[str]]]) -> None:
    from tests.support.postgres import PgServer, missing_reason

    reason = missing_reason()
    if reason is not None:
        print(f"PostgreSQL: not measured ({reason})")
        return
    server = PgServer(durable=True, parent=work_dir()).start()   # var/: the project's disk, reachable by `postgres`
    try:
        name = server.create_database("bench")
        estate = Estate(server.url(name), dataclasses.replace(settings, database_url=server.url(name)), args,
                        min(args.payments, args.pg_payments), due if args.quick else None)
        print(f"PostgreSQL (fsync on, synchronous_commit on): {estate.seeded}")
        runs = run_both(estate, args.kiosks, "host on PostgreSQL", False)
        estate.engine.dispose()
        tps = pgbench(server, server.create_database("pgbench"), args.kiosks, args.pgbench_seconds)
        for run in runs:
            print(run.line())
        print(f"pgbench -N (simple update), {args.kiosks} clients, same server: {tps:,.0f} transactions/s")
        best = max(runs, key=lambda r: r.rate)
        print(f"ratio: {best.rate / tps:.0%} of pgbench's rate ({best.label.split(', ')[-1]}; target >= 50 %)")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--payments", type=int, default=5000, help="at most this many (one per household due)")
    parser.add_argument("--kiosks", type=int, default=16, help="concurrent kiosks (threads, each its own terminal)")
    parser.add_argument("--raw-commits", type=int, default=2000,
                        help="at least this many raw SQLite commits (more if there are more payments)")
    parser.add_argument("--pg-payments", type=int, default=2000, help="at most this many on PostgreSQL")
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--profile", action="store_true",
                        help="SQLite: cProfile the purchases one by one in place of the timed run of a transaction each")
    args = parse_args(parser, {"households": 2000, "payments": 200, "raw_commits": 200, "pgbench_seconds": 1,
                                    "pg_payments": 64})
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    settings = with_terminals(load_host_settings(DEMO_HOST_CONFIG), 2 * args.kiosks)
    folder = Path(tempfile.mkdtemp(prefix="bench-payments-", dir=work_dir()))
    try:
        estate = Estate(f"sqlite:///{folder / 'host.sqlite3'}", settings, args, args.payments)
        print(f"SQLite: {estate.seeded}")
        # the disk's rate before and after the host's runs (a shared machine's disk varies): their mean
        raw_before = raw_commits(folder, max(args.raw_commits, len(estate.due)), "before")
        runs = run_both(estate, args.kiosks, "host on SQLite", args.profile)
        estate.engine.dispose()
        raw_after = raw_commits(folder, max(args.raw_commits, len(estate.due)), "after")
        raw_rate = (raw_before + raw_after) / 2
        floor_rate = raw_payment_writes(folder / "host.sqlite3", min(3000, len(estate.due)), args.today)
        for run in runs:
            print(run.line())
        print(f"raw SQLite (WAL, synchronous=FULL) single-row-insert commits: {raw_rate:,.0f} commits/s "
              f"(mean of {raw_before:,.0f} before and {raw_after:,.0f} after the host's runs)")
        for run in runs:
            print(f"ratio: {run.rate / raw_rate:.0%} of the raw commit rate ({run.label.split(', ')[-1]}; "
                  "target >= 50 %)")
        print(f"for scale: a purchase's writes alone (3 statements, bare sqlite3, one commit): "
              f"{floor_rate:,.0f} commits/s = {floor_rate / raw_rate:.0%} of the raw rate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not args.no_postgres:
        postgres(settings, args, estate.due)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
