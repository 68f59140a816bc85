"""Benchmark (not a test): bill lookups at 100,000 households.

Seeds the demo estate into a temporary SQLite file, then times random
GET /api/v1/households/{house_no}/bill requests through the app in-process
(httpx.AsyncClient + ASGITransport: routing, queries, JSON; no sockets).
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

from benchlib import bench_clock, parse_args  # noqa: E402
from host.app import create_app  # noqa: E402
from host.config import DEMO_HOST_CONFIG, load_host_settings  # noqa: E402
from host.db import make_engine  # noqa: E402
from host.schema import create_tables  # noqa: E402
from host.schema.estate import households  # noqa: E402
from host.seed import seed_demo  # noqa: E402


def percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


async def lookups(app: object, house_numbers: list[str], count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    timings: list[float] = []
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:
        for _ in range(min(500, count)):   # warm-up: statement cache, SQLite page cache
            await client.get(f"/api/v1/households/{rng.choice(house_numbers)}/bill")
        for _ in range(count):
            house = rng.choice(house_numbers)
            started = time.perf_counter()
            response = await client.get(f"/api/v1/households/{house}/bill")
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{house}: HTTP {response.status_code} {response.text}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    args = parse_args(parser, {"households": 2000, "lookups": 300})

    settings = load_host_settings(DEMO_HOST_CONFIG)
    today = args.today
    with tempfile.TemporaryDirectory(prefix="bench-host-") as folder:
        db_file = Path(folder) / "host.sqlite3"
        engine = make_engine(f"sqlite:///{db_file}")
        create_tables(engine)
        summary = seed_demo(engine, settings, args.households, today=today)
        print(f"seed: {summary} (database {db_file.stat().st_size / 2**20:.0f} MiB)")

        with engine.connect() as conn:
            house_numbers = list(conn.execute(select(households.c.house_no)).scalars())
        app = create_app(settings, engine, clock=bench_clock(today))
        started = time.perf_counter()
        timings = sorted(asyncio.run(lookups(app, house_numbers, args.lookups, seed=7)))
        elapsed = time.perf_counter() - started
        print(f"lookups: {len(timings)} random households in {elapsed:.1f} s "
              f"({len(timings) / elapsed:.0f}/s, one client, sequential)")
        print("latency ms: " + "  ".join(f"{name} {percentile(timings, q):.2f}" for name, q in
                                         (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))) +
              f"  max {timings[-1]:.2f}")
        engine.dispose()


if __name__ == "__main__":
    main()
