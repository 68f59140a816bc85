"""Benchmark (not a test): the fleet at scale on several workers (issue 12,
deliverable 5). 10,000 signed kiosks heartbeating every 15 s, spread evenly
(~667/s), against `kiosk host serve --workers 4` on a private, durable
PostgreSQL (tests/support/postgres.py, fsync on); the console's fleet page
timed while they run. Targets: heartbeat p99 <= 50 ms, the fleet page under
100 ms of server time; the host's CPU per heartbeat is reported (figures in
docs/performance.md).

The host is the real command line (`python -m host serve --workers N`, a
supervisor forking N workers on one port). The kiosks are those of
bench_heartbeats.py (own TMK and MAK, wrapped into the kiosks table as a
sign-on leaves them; strictly increasing counters; X9.19 MACs; a fresh TCP
connection per heartbeat, so the kernel spreads them over the workers), played
by several generator processes (--generators) so that the load generator is
not the bottleneck; its own CPU is printed. Latency is from connect to the
last byte of the reply.

CPU: the supervisor's and the workers' user+system time from /proc over the
measured rounds, divided by the heartbeats answered in them (PostgreSQL's
backends separately). The fleet page's server time is the host's own
Server-Timing header (sent with X-Host-Worker when KIOSK_HOST_WORKER_HEADER
is set: tests and benchmarks only), each sample on a new connection.

    .venv/bin/python benchmarks/bench_fleet_workers.py [--kiosks 10000] [--workers 4] [--interval 15]
                                                      [--rounds 2] [--generators 2] [--page-samples 20] [--quick]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import parse_args, work_dir  # noqa: E402
from bench_heartbeats import ADMIN, fleet_keys, heartbeat, kiosk_id, pct, status  # noqa: E402
from common.crypto import wrap_key  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the host's database and config -------------------------------------------------------
def prepare(url: str, kiosks: int) -> None:
    """Every kiosk signed on (its MAK under its TMK, as sign-on stores it) and one console account."""
    from sqlalchemy import insert

    from host.config import load_host_settings
    from host.console.accounts import Accounts
    from host.db import make_engine
    from host.schema import create_tables
    from host.schema.bank import kiosks as kiosks_table

    engine = make_engine(url)
    try:
        create_tables(engine)
        rows = [{"kiosk_id": k, "last_counter": 1, "key_version": 1, "pik_under_tmk": None,
                 "mak_under_tmk": wrap_key(tmk, mak).hex().upper()} for k, tmk, mak in fleet_keys(kiosks)]
        with engine.begin() as conn:
            conn.execute(insert(kiosks_table), rows)
        Accounts(engine, load_host_settings().console).add(*ADMIN, "admin", by="bench")
    finally:
        engine.dispose()


def host_toml(kiosks: int, port: int) -> str:
    """The demo config on free ports, its demo kiosk replaced by the benchmark's fleet."""
    from host.config import DEMO_HOST_CONFIG

    text = DEMO_HOST_CONFIG.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^listen_port = \d+", f"listen_port = {port}", text)
    text = re.sub(r"(?m)^link_port = \d+", f"link_port = {free_port()}", text)
    text = re.sub(r'(?ms)^\[kiosks\."KIOSK-DEMO-01"\].*?(?=^\[)', "", text)
    text = re.sub(r"(?ms)^\[bank\.terminals\].*?(?=^\[)", "[bank.terminals]\n\n", text)
    return text + "".join(f'\n[kiosks."{k}"]\ntmk = "{tmk.hex().upper()}"\n' for k, tmk, _ in fleet_keys(kiosks))


def process_tree(pid: int) -> list[int]:
    """pid and its descendants now (the supervisor and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def tree_cpu(pids: list[int]) -> float:
    """User+system seconds of these processes and of their children they have
    reaped (PostgreSQL's backends come and go with the pools' connections)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue            # exited meanwhile
        total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


# --- a generator process: kiosks [first, last) -----------------------------------------------
async def generate(port: int, first: int, last: int, total: int, interval: float, t0: float,
                   bounds: list[float], today: date) -> dict[str, Any]:
    """Heartbeats at t0 + interval * i / total (+ rounds); latencies by phase: the
    phase of a heartbeat is the first bound its planned time is below."""
    phases: list[list[float]] = [[] for _ in bounds]
    done: list[float] = []      # when each reply was read (wall clock): the heartbeats answered in a window
    lags: list[float] = []
    errors: dict[str, int] = {}
    end = bounds[-1]
    keys = fleet_keys(last)[first:]

    async def kiosk(i: int, mak: bytes) -> None:
        rng, counter = random.Random(i), 10
        planned = t0 + interval * i / total
        while planned < end:
            await asyncio.sleep(max(0.0, planned - time.time()))
            lag = time.time() - planned
            counter += 1
            try:
                code, elapsed = await heartbeat(port, kiosk_id(i), mak, counter,
                                                {"interval_s": interval, **status(rng, i, int(planned - t0), today)})
                if code != 200:
                    errors[f"HTTP {code}"] = errors.get(f"HTTP {code}", 0) + 1
                else:
                    phase = next(n for n, b in enumerate(bounds) if planned < b)
                    phases[phase].append(elapsed)
                    done.append(time.time())
                    if phase:
                        lags.append(lag)
            except OSError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            planned += interval

    cpu0 = time.process_time()
    await asyncio.gather(*(kiosk(first + n, mak) for n, (_, _, mak) in enumerate(keys)))
    return {"phases": phases, "done": done, "lags": lags, "errors": errors, "cpu_s": time.process_time() - cpu0}


# --- the console ----------------------------------------------------------------------
def console_samples(base: str, cookie: str, samples: int, until: float) -> dict[str, list[float]]:
    """The fleet page (and its filtered and searched forms), each GET on a new
    connection (any worker); the host's Server-Timing and the wall time. A
    sample that times out (an overloaded host) is counted, not fatal."""
    import httpx

    server: list[float] = []
    wall: list[float] = []
    failed: list[float] = []
    paths = ["/console/", "/console/?filter=attention", "/console/?q=K049"]
    n = 0
    while n < samples and time.time() < until:
        n += 1
        with httpx.Client(base_url=base, timeout=10, cookies={"console_session": cookie}) as fresh:
            start = time.perf_counter()
            try:
                reply = fresh.get(paths[n % len(paths)])
            except httpx.TimeoutException:
                failed.append(10_000.0)
                continue
            wall.append((time.perf_counter() - start) * 1000)
        assert reply.status_code == 200, reply.status_code
        timing = re.search(r"dur=([\d.]+)", reply.headers.get("server-timing", ""))
        assert timing is not None, "no Server-Timing header (KIOSK_HOST_WORKER_HEADER)"
        server.append(float(timing.group(1)))
        time.sleep(max(0.0, min(0.5, until - time.time())))
    return {"server": server, "wall": wall, "timed out": failed}


async def _cookie(base: str) -> str:
    from bench_heartbeats import sign_in
    client = await sign_in(base)
    try:
        return str(client.cookies.get("console_session"))
    finally:
        await client.aclose()


# --- the run -------------------------------------------------------------------------------------
def run(args: argparse.Namespace, url: str, folder: Path) -> None:
    port = free_port()
    toml = folder / "host.toml"
    toml.write_text(host_toml(args.kiosks, port), encoding="utf-8")
    env = {**os.environ, "KIOSK_HOST_WORKER_HEADER": "1", "PYTHONPATH": str(ROOT)}
    host = subprocess.Popen([sys.executable, "-m", "host", "--config", str(toml), "--db", url, "serve",
                             "--workers", str(args.workers)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=(folder / "host.err").open("wb"))
    generators: list[subprocess.Popen[str]] = []
    try:
        import httpx
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or host.poll() is not None:
                raise SystemExit("the host did not start:\n" + (folder / "host.err").read_text()[-3000:])
            time.sleep(0.2)
        cookie = asyncio.run(_cookie(f"http://127.0.0.1:{port}"))   # before the load: signing in hashes a password
        interval = args.interval
        t0 = time.time() + 2.0 + 0.3 * args.generators
        warm_end = t0 + interval                       # round 1: every kiosk's key loaded in the workers
        quiet_end = warm_end + args.rounds * interval  # heartbeats alone: the target
        end = quiet_end + interval                     # one more round with the console in use
        bounds = [warm_end, quiet_end, end]
        share = -(-args.kiosks // args.generators)
        for g in range(args.generators):
            first, last = g * share, min(args.kiosks, (g + 1) * share)
            generators.append(subprocess.Popen(
                [sys.executable, __file__, "--generate", json.dumps({
                    "port": port, "first": first, "last": last, "total": args.kiosks, "interval": interval,
                    "t0": t0, "bounds": bounds, "today": args.today.isoformat()})],
                stdout=subprocess.PIPE, text=True))
        time.sleep(max(0.0, warm_end - time.time()))
        tree = process_tree(host.pid)
        pg = process_tree(PG_PID[0]) if PG_PID else []
        cpu0, pg0, wall0, load0 = tree_cpu(tree), tree_cpu(pg), time.time(), os.getloadavg()[0]
        time.sleep(max(0.0, quiet_end - time.time()))
        cpu, pg_cpu, wall1 = tree_cpu(tree) - cpu0, tree_cpu(pg) - pg0, time.time()
        load1 = os.getloadavg()[0]
        pages = console_samples(f"http://127.0.0.1:{port}", cookie, args.page_samples, end - 0.5)
        results = []
        for gen in generators:
            out, _ = gen.communicate(timeout=interval * 4 + 120)
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for gen in generators:
            if gen.poll() is None:
                gen.kill()
                gen.wait()
        host.terminate()
        host.wait(timeout=60)
    report(args, results, cpu, pg_cpu, (wall0, wall1), (load0, load1), pages, len(tree))


def report(args: argparse.Namespace, results: list[dict[str, Any]], cpu: float, pg_cpu: float,
           window: tuple[float, float], load: tuple[float, float], pages: dict[str, list[float]],
           processes: int) -> None:
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    quiet = [v * 1000 for r in results for v in r["phases"][1]]
    busy = [v * 1000 for r in results for v in r["phases"][2]]
    lags = [v * 1000 for r in results for v in r["lags"]]
    gen_cpu = sum(r["cpu_s"] for r in results)
    print(f"heartbeats: {args.kiosks} kiosks every {args.interval:g} s = {args.kiosks / args.interval:.0f}/s offered "
          f"to {args.workers} workers on PostgreSQL (fsync on), after a warm-up round; errors {errors or 'none'}")
    for label, lat in ((f"heartbeats alone, {args.rounds} round(s)", quiet), ("while the console was loaded", busy)):
        if lat:
            print(f"  {label}: {len(lat)} heartbeats, latency ms p50 {pct(lat, 50):.2f}  p90 {pct(lat, 90):.2f}  "
                  f"p99 {pct(lat, 99):.2f}  max {max(lat):.1f}")
    wall = window[1] - window[0]
    answered = sum(1 for r in results for t in r["done"] if window[0] <= t < window[1])
    print(f"  answered during the measured rounds: {answered / wall:.0f}/s")
    if answered:
        print(f"  host CPU ({processes} processes: supervisor + workers) {cpu / wall * 100:.0f}% of one core = "
              f"{cpu / answered * 1000:.2f} ms per heartbeat answered; PostgreSQL {pg_cpu / wall * 100:.0f}% = "
              f"{pg_cpu / answered * 1000:.2f} ms per heartbeat")
    print(f"  load generator: {args.generators} processes, {gen_cpu:.1f} s CPU over the whole run; "
          f"its lag p99 {pct(lags, 99) if lags else 0:.1f} ms (figures hold while it is small)")
    print(f"  machine load average (1 min) {load[0]:.2f} at the start of the measured rounds, {load[1]:.2f} at their end "
          f"({os.cpu_count()} cores)")
    for label, values in (("server time (Server-Timing)", pages["server"]), ("client wall time", pages["wall"])):
        if values:
            print(f"console fleet page, {label}: {len(values)} samples, p50 {pct(values, 50):.1f} ms  "
                  f"p90 {pct(values, 90):.1f} ms  max {max(values):.1f} ms (target < 100 ms server time)")
    if pages["timed out"]:
        print(f"console fleet page: {len(pages['timed out'])} request(s) with no reply within 10 s")


PG_PID: list[int] = []


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiosks", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--generators", type=int, default=2)
    parser.add_argument("--page-samples", type=int, default=20)
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    args = parse_args(parser, {"kiosks": 300, "workers": 2, "interval": 2.0, "rounds": 1, "generators": 1,
                               "page_samples": 3})
    if args.generate:
        spec = json.loads(args.generate)
        out = asyncio.run(generate(spec["port"], spec["first"], spec["last"], spec["total"], spec["interval"],
                                   spec["t0"], spec["bounds"], date.fromisoformat(spec["today"])))
        print(json.dumps(out))
        return 0

    from tests.support.postgres import PgServer, missing_reason
    reason = missing_reason()
    if reason is not None:
        print(f"PostgreSQL: not measured ({reason})")
        return 0
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    server = PgServer(durable=True, parent=work_dir()).start()   # var/: the project's disk, fsync on
    try:
        PG_PID.append(int((server.data / "postmaster.pid").read_text().split()[0]))
        url = server.url(server.create_database("bench"))
        started = time.perf_counter()
        prepare(url, args.kiosks)
        print(f"setup: {args.kiosks} kiosks signed on in the host database in {time.perf_counter() - started:.1f} s")
        with tempfile.TemporaryDirectory(prefix="bench-fleet-workers-") as tmp:
            run(args, url, Path(tmp))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
