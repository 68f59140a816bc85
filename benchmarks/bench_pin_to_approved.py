"""Benchmark (not a test): the software's own time from "PIN entered" (the PIN
pad's encrypted block is in the kiosk's hands) to "approved" (PaymentService.pay
returns), host on loopback. The bank's leg is ISO 8583 over TCP to the host's
bank front-end (host.bank.frontend, as `kiosk host serve` runs it: its own
event loop, here a thread of its own); the backup copy to the property host
goes after approval, over signed HTTP, as in the kiosk. Real drivers and
simulators, the real host under uvicorn in this process's background thread, a
fresh demo estate. Target p50 <= 50 ms. The screen shows the result on the next
Kivy frame (<= 17 ms at 60 fps), not included.

    .venv/bin/python benchmarks/bench_pin_to_approved.py [--payments 200] [--today YYYY-MM-DD] [--quick]

--today is the business day of the run (seed, bills, the bank's day and the
kiosk's journal): the host and the kiosk share one clock, from 10:30 that day.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, text  # noqa: E402

from benchlib import bench_clock, card_expiry, parse_args, temp_files_in, work_dir  # noqa: E402
from host.app import create_app  # noqa: E402
from host.bank.card_vault import pan_hash  # noqa: E402
from host.bank.frontend import BankFrontEnd  # noqa: E402
from host.config import load_host_settings  # noqa: E402
from host.db import make_engine  # noqa: E402
from host.schema import create_tables  # noqa: E402
from host.schema.estate import households  # noqa: E402
from host.seed import seed_demo  # noqa: E402
from host.server import HostServer  # noqa: E402
from kiosk.bootstrap import build  # noqa: E402
from kiosk.config import DEMO_KIOSK_CONFIG, load_kiosk_settings  # noqa: E402
from common.demo_cards import load_test_cards  # noqa: E402


class FrontEnd:
    """The host's 8583 front-end on a free loopback port, on an event loop of its
    own thread (in `kiosk host serve` it shares uvicorn's loop, not the kiosk's)."""

    def __init__(self, settings: Any, engine: Any, clock: Any) -> None:
        assert settings.bank_link is not None           # the demo host's [bank] link_port
        link = dataclasses.replace(settings.bank_link, port=0)
        self.server = BankFrontEnd(settings, link, engine, clock)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bank-frontend", daemon=True)

    def start(self) -> int:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return int(self.server.port)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def time_bank_leg(kiosk: Any, into: list[float]) -> None:
    """Also time the bank leg alone: BankLink.pay (STAN and reversal journaled,
    the 0200 out, the 0210 in and checked, the debit journaled), the part of
    pay() the 8583 link costs; the rest is the kiosk journal and the backup copy."""
    pay = kiosk.link.pay

    async def timed(request: Any) -> Any:
        start = time.perf_counter()
        try:
            return await pay(request)
        finally:
            into.append(time.perf_counter() - start)
    kiosk.link.pay = timed


async def run(payments: int, folder: Path, today: date) -> tuple[list[float], list[float]]:
    settings = dataclasses.replace(load_host_settings(), database_url=f"sqlite:///{folder / 'host.sqlite3'}")
    engine = make_engine(settings.database_url)
    create_tables(engine)
    seed_demo(engine, settings, today=today)
    # a card rich enough for every bill in the run, valid on any --today
    card = dataclasses.replace(load_test_cards().cards[0], expiry=card_expiry(today))
    with engine.begin() as conn:
        conn.execute(text("UPDATE bank_accounts SET balance_fen = 10000000000, daily_limit_fen = 10000000000,"
                          " expiry = :expiry WHERE pan_hash = :h"),
                     {"h": pan_hash(settings.bank_keys(), card.pan), "expiry": card.expiry})
        houses = [row[0] for row in conn.execute(select(households.c.house_no))]
    clock = bench_clock(today)      # the host's and the kiosk's
    server = HostServer(create_app(settings, engine, clock=clock), "127.0.0.1", 0)
    server.start()
    front_end = FrontEnd(settings, engine, clock)
    bank_port = front_end.start()
    kiosk_settings = load_kiosk_settings(DEMO_KIOSK_CONFIG)
    assert kiosk_settings.bank is not None
    kiosk_settings = dataclasses.replace(
        kiosk_settings, host=dataclasses.replace(kiosk_settings.host, url=server.url),
        bank=dataclasses.replace(kiosk_settings.bank, host="127.0.0.1", port=bank_port),
        journal_path=str(folder / "journal.sqlite3"))
    kiosk = build(kiosk_settings, with_wallet=False, with_fleet=False, clock=clock)
    await kiosk.start()
    timings: list[float] = []
    bank_leg: list[float] = []
    time_bank_leg(kiosk, bank_leg)
    try:
        for house in houses:
            if len(timings) == payments:
                break
            bill = await kiosk.bills.lookup(house)
            if bill.nothing_due:
                continue
            task = asyncio.ensure_future(kiosk.payments.read_card(10))
            await asyncio.to_thread(kiosk.sims.reader.wait_armed, 5)
            kiosk.sims.reader.swipe(card.track2)
            swiped = await task
            task = asyncio.ensure_future(kiosk.payments.collect_pin(swiped, lambda k, n: None))
            await asyncio.to_thread(kiosk.sims.pinpad.wait_entering, 5)
            await asyncio.to_thread(kiosk.sims.pinpad.type_pin, card.pin)
            block = await task
            start = time.perf_counter()                     # PIN entered
            outcome = await kiosk.payments.pay(bill, swiped, block)
            timings.append(time.perf_counter() - start)      # approved
            assert outcome.approved, outcome
    finally:
        await kiosk.aclose()
        front_end.stop()
        server.stop()
        engine.dispose()
    return timings, bank_leg


def _figures(timings: list[float]) -> str:
    ms = sorted(t * 1000 for t in timings)
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    return f"p50 {statistics.median(ms):.1f} ms  p90 {p(0.90):.1f} ms  p99 {p(0.99):.1f} ms  max {ms[-1]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=200)
    args = parse_args(parser, {"payments": 20})
    with tempfile.TemporaryDirectory(prefix="bench-pin-", dir=work_dir()) as tmp:
        temp_files_in(Path(tmp) / "tmp")
        timings, bank_leg = asyncio.run(run(args.payments, Path(tmp), args.today))
    print(f"PIN entered -> approved over the ISO 8583 link, {len(timings)} payments, front-end on loopback"
          " (its own thread; SQLite WAL FULL):")
    print(f"  {_figures(timings)}  (target p50 <= 50 ms; PaymentService.pay, the backup copy included)")
    print(f"  bank leg alone (BankLink.pay: 0200 -> 0210, STAN, reversal and debit journaled): {_figures(bank_leg)}")


if __name__ == "__main__":
    main()
