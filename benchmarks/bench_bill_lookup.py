"""Benchmark (not a test): bill lookups at 100,000 households.

Seeds the demo estate into a temporary SQLite file (on the project's disk,
var/: each look-up commits the kiosk's counter), signs on as the demo kiosk,
then times random look-ups through the kiosk's own stack (BillService ->
HostClient -> the signed channel: POST /api/v1/households/bill, MAC both ways,
the kiosk's checks) against the app in-process (httpx ASGITransport: routing,
the message checks, queries, the counter's commit, JSON; no sockets).
Target: p99 <= 5 ms.

    .venv/bin/python benchmarks/bench_bill_lookup.py [--households 100000] [--lookups 20000]
                                                     [--today YYYY-MM-DD] [--quick]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import bench_clock, parse_args, work_dir  # noqa: E402
from common.clock import SystemClock  # noqa: E402
from host.app import create_app  # noqa: E402
from host.config import DEMO_HOST_CONFIG, load_host_settings  # noqa: E402
from host.db import make_engine  # noqa: E402
from host.schema import create_tables  # noqa: E402
from host.schema.estate import households  # noqa: E402
from host.seed import seed_demo  # noqa: E402
from kiosk.backend_client.bank import BankClient  # noqa: E402
from kiosk.backend_client.client import HostClient  # noqa: E402
from kiosk.backend_client.signed import MessageCounter, SignedChannel  # noqa: E402
from kiosk.config import DEMO_KIOSK_CONFIG, load_kiosk_settings  # noqa: E402
from kiosk.services.bills import BillService  # noqa: E402
from kiosk.services.journal import Journal  # noqa: E402
from kiosk.services.session import HostSession  # noqa: E402


def percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


async def lookups(app: object, house_numbers: list[str], count: int, seed: int, folder: Path) -> list[float]:
    """The demo kiosk's look-ups, one after another (one resident at a time), as
    kiosk.bootstrap wires them: its journal's counter, its sign-on, its checks."""
    rng = random.Random(seed)
    kiosk = load_kiosk_settings(DEMO_KIOSK_CONFIG)
    journal = Journal(str(folder / "journal.sqlite3"), SystemClock())
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    bank = BankClient(SignedChannel("http://host", kiosk.kiosk_id, MessageCounter(journal.next_counter), timeout_s=30,
                                    transport=transport), kiosk.tmk)
    host = HostClient("http://host", bank, transport=transport)
    bills = BillService(host, HostSession(bank, None))
    timings: list[float] = []
    try:
        for _ in range(min(500, count)):   # warm-up: sign-on, statement cache, SQLite page cache
            await bills.lookup(rng.choice(house_numbers))
        for _ in range(count):
            house = rng.choice(house_numbers)
            started = time.perf_counter()
            bill = await bills.lookup(house)
            timings.append((time.perf_counter() - started) * 1000)
            if str(bill.house) != house:
                raise SystemExit(f"{house}: answered for {bill.house}")
    finally:
        await bank.aclose()
        await host.aclose()
        journal.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    args = parse_args(parser, {"households": 2000, "lookups": 300})

    settings = load_host_settings(DEMO_HOST_CONFIG)
    today = args.today
    with tempfile.TemporaryDirectory(prefix="bench-host-", dir=work_dir()) as folder:
        db_file = Path(folder) / "host.sqlite3"
        engine = make_engine(f"sqlite:///{db_file}")
        create_tables(engine)
        summary = seed_demo(engine, settings, args.households, today=today)
        print(f"seed: {summary} (database {db_file.stat().st_size / 2**20:.0f} MiB)")

        with engine.connect() as conn:
            house_numbers = list(conn.execute(select(households.c.house_no)).scalars())
        app = create_app(settings, engine, clock=bench_clock(today))
        started = time.perf_counter()
        timings = sorted(asyncio.run(lookups(app, house_numbers, args.lookups, seed=7, folder=Path(folder))))
        elapsed = time.perf_counter() - started
        print(f"lookups: {len(timings)} random households in {elapsed:.1f} s "
              f"({len(timings) / elapsed:.0f}/s, one kiosk, signed, sequential)")
        print("latency ms: " + "  ".join(f"{name} {percentile(timings, q):.2f}" for name, q in
                                         (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))) +
              f"  max {timings[-1]:.2f}")
        engine.dispose()


if __name__ == "__main__":
    main()
