"""Benchmark (not a test): the IC wallet's load (圈存) through the real stack —
pyscard -> a private pcscd -> vpcd -> a virtual CPU card, and the card centre
on loopback (uvicorn thread, SQLite WAL FULL) — plus the APDUs each flow sends
next to the protocol minimum (docs/cards.md §2).

"Software time per load" runs from the bank PIN block being in the kiosk's
hands to WalletService.load returning the new balance: connect, SELECT, app
info, INITIALIZE FOR LOAD, the signed authorise (MAC1 checked, bank debited,
MAC2), CREDIT FOR LOAD (TAC), the signed confirm (TAC checked). Target p50 <= 100 ms.

    .venv/bin/python benchmarks/bench_wallet_load.py [--loads 200] [--today YYYY-MM-DD] [--quick]

--today is the business day of the run (seed, the card centre's, the bank's
and the kiosk's day, the virtual cards' issue date): the host and the kiosk
share one clock, from 10:30 that day.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from benchlib import bench_clock, card_expiry, free_port_pair, parse_args, temp_files_in, work_dir  # noqa: E402
from host.app import create_app  # noqa: E402
from host.bank.card_vault import pan_hash  # noqa: E402
from host.config import load_host_settings  # noqa: E402
from host.db import make_engine  # noqa: E402
from host.schema import create_tables  # noqa: E402
from host.seed import seed_demo  # noqa: E402
from host.server import HostServer  # noqa: E402
from kiosk.bootstrap import build  # noqa: E402
from common.epurse import Wallet  # noqa: E402
from kiosk.config import DEMO_KIOSK_CONFIG, load_kiosk_settings  # noqa: E402
from kiosk.devices.sim.pcscd import PrivatePcscd  # noqa: E402
from common.demo_cards import load_test_cards  # noqa: E402
from common.money import Money  # noqa: E402

MINIMUM = {"load EP": 3, "load ED": 4, "unload": 4, "purchase ED": 4}   # docs/cards.md §2


def counting(card) -> list[bytes]:   # type: ignore[no-untyped-def]
    seen: list[bytes] = []

    def hook(apdu: bytes) -> None:
        seen.append(apdu)
    card.fault = hook
    return seen


async def run(loads: int, folder: Path, today: date) -> tuple[list[float], dict[str, int]]:
    settings = dataclasses.replace(load_host_settings(), database_url=f"sqlite:///{folder / 'host.sqlite3'}")
    engine = make_engine(settings.database_url)
    create_tables(engine)
    seed_demo(engine, settings, today=today)
    # a bank card rich enough for every load in the run, valid on any --today
    bank = dataclasses.replace(load_test_cards().cards[0], expiry=card_expiry(today))
    holder = load_test_cards().ic_cards[0]
    with engine.begin() as conn:
        conn.execute(text("UPDATE bank_accounts SET balance_fen = 10000000000, daily_limit_fen = 10000000000,"
                          " expiry = :expiry WHERE pan_hash = :h"),
                     {"h": pan_hash(settings.bank_keys(), bank.pan), "expiry": bank.expiry})
    clock = bench_clock(today)      # the host's and the kiosk's
    server = HostServer(create_app(settings, engine, clock=clock), "127.0.0.1", 0)
    server.start()
    base = load_kiosk_settings(DEMO_KIOSK_CONFIG)
    kiosk_settings = dataclasses.replace(base, host=dataclasses.replace(base.host, url=server.url),
                                         journal_path=str(folder / "journal.sqlite3"))
    pcscd = PrivatePcscd(folder / "pcscd", free_port_pair())
    pcscd.start()
    kiosk = build(kiosk_settings, pcscd=pcscd, with_fleet=False, clock=clock)
    await kiosk.start()
    assert kiosk.wallet is not None and kiosk.sims is not None
    card = kiosk.sims.ic_cards[holder.serial]
    timings: list[float] = []
    apdus: dict[str, int] = {}

    async def bank_card():   # type: ignore[no-untyped-def]
        task = asyncio.ensure_future(kiosk.payments.read_card(10))
        await asyncio.to_thread(kiosk.sims.reader.wait_armed, 5)
        kiosk.sims.reader.swipe(bank.track2)
        swiped = await task
        task = asyncio.ensure_future(kiosk.payments.collect_pin(swiped, lambda k, n: None, checked_by="card_centre"))
        await asyncio.to_thread(kiosk.sims.pinpad.wait_entering, 5)
        await asyncio.to_thread(kiosk.sims.pinpad.type_pin, bank.pin)
        return swiped, await task

    try:
        kiosk.sims.ic_slots["contact"].insert(card)
        while not kiosk.wallet.card_present("contact"):
            await asyncio.sleep(0.01)
        view = await kiosk.wallet.present("contact")
        for _ in range(loads):
            swiped, block = await bank_card()
            start = time.perf_counter()
            outcome = await kiosk.wallet.load(view, Wallet.EP, Money(100), swiped, block)
            timings.append(time.perf_counter() - start)
            assert outcome.approved, outcome
            view = dataclasses.replace(view, ep_balance=outcome.new_balance)
        for name, wallet in (("load EP", Wallet.EP), ("load ED", Wallet.ED)):
            swiped, block = await bank_card()
            seen = counting(card)
            await kiosk.wallet.load(view, wallet, Money(100), swiped, block, card_pin=holder.pin)
            apdus[name] = len(seen)
        swiped, _ = await bank_card()
        seen = counting(card)
        await kiosk.wallet.unload(view, Money(100), holder.pin, swiped)
        apdus["unload"] = len(seen)
        bill = await kiosk.bills.lookup("2-1-601")
        seen = counting(card)
        await kiosk.wallet.pay_bill(view, Wallet.ED, bill, card_pin=holder.pin)
        apdus["purchase ED"] = len(seen)
        card.fault = None
    finally:
        await kiosk.aclose()
        pcscd.stop()
        server.stop()
        engine.dispose()
    return timings, apdus


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=200)
    args = parse_args(parser, {"loads": 10})
    with tempfile.TemporaryDirectory(prefix="bench-wallet-", dir=work_dir()) as tmp:
        temp_files_in(Path(tmp) / "tmp")
        timings, apdus = asyncio.run(run(args.loads, Path(tmp), args.today))
    ms = sorted(t * 1000 for t in timings)
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    print(f"IC wallet load, {len(ms)} loads through pcscd/vpcd, card centre on loopback:")
    print(f"  p50 {statistics.median(ms):.1f} ms  p90 {p(0.90):.1f} ms  p99 {p(0.99):.1f} ms  max {ms[-1]:.1f} ms"
          f"  (target p50 <= 100 ms)")
    print("APDUs per flow (ours / protocol minimum):")
    for name, count in apdus.items():
        print(f"  {name:<12} {count} / {MINIMUM[name]}")


if __name__ == "__main__":
    main()
