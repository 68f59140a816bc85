"""What every benchmark's command line shares (docs/performance.md):

--quick   tiny sizes, a few seconds, the same code path and the same printed
          lines: CI runs each benchmark once this way (tests/test_benchmarks.py)
          to prove it still runs. Its figures mean nothing.
--today   the business day the benchmark seeds and measures on (YYYY-MM-DD,
          default: the day it runs). The one date a benchmark uses: seeding,
          the host's clock and the figures all take it from here, so a run
          gives the same kind of figures on any calendar date.

Not a benchmark itself (tests/test_benchmarks.py runs the bench_*.py files)."""
from __future__ import annotations

import argparse
import os
import tempfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"      # on the project's disk: a benchmark that measures fsync must not run on a tmpfs


def parse_args(parser: argparse.ArgumentParser, quick: dict[str, Any], *, dated: bool = True) -> argparse.Namespace:
    """Add --quick (and --today unless `dated` is False) and parse. `quick`
    holds the sizes --quick uses for the options not given on the command line."""
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, a few seconds: checks that the benchmark runs (CI); "
                             f"the figures mean nothing ({', '.join(f'{k}={v}' for k, v in quick.items())})")
    if dated:
        parser.add_argument("--today", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                            help="the business day to seed and measure on (default: the day it runs)")
    args = parser.parse_args()
    if args.quick:
        parser.set_defaults(**quick)      # what the command line says still wins
        args = parser.parse_args()
    if dated and args.today is None:
        args.today = date.today()        # read once: a run that crosses midnight keeps its day
    return args


def at(day: date, hour: int = 10, minute: int = 30) -> datetime:
    """A time of the benchmark's business day (the host's `now`)."""
    return datetime.combine(day, time(hour, minute))


def bench_clock(day: date, hour: int = 10, minute: int = 30) -> Any:
    """The clock of a run, for the host and the kiosk alike: real time from
    hour:minute of the benchmark's day (a run takes minutes: it never crosses
    midnight, whenever it starts)."""
    from common.clock import SystemClock

    return SystemClock.starting_at(at(day, hour, minute))


def card_expiry(day: date) -> str:
    """YYMM of a card still valid for a few years after `day` (the demo cards'
    own expiry dates run out; a benchmark must not)."""
    return f"{(day.year + 4) % 100:02d}12"


def work_dir() -> Path:
    """var/, made if missing: the parent of a benchmark's own temporary folder."""
    VAR.mkdir(exist_ok=True)
    return VAR


def temp_files_in(folder: Path, env: dict[str, str] | None = None) -> None:
    """Send what libraries leave in the temporary folder into the run's own
    folder, which the benchmark removes at its end: python-escpos makes a
    mkdtemp() folder at import that nobody removes, the kiosk's UI keeps its
    private Kivy home there. `env`: a child's environment; default: this
    process's (and its children's)."""
    folder.mkdir(parents=True, exist_ok=True)
    if env is not None:
        env["TMPDIR"] = str(folder)
        return
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None          # gettempdir() reads TMPDIR again


def free_port_pair(first: int = 40700, last: int = 41100) -> int:
    """The first even port p in [first, last) with p and p + 1 free (a private
    pcscd's two vpcd slots; the tests' pcscd uses 40200-40600)."""
    from kiosk.devices.sim.pcscd import ports_in_use

    busy = ports_in_use()
    for port in range(first, last, 2):
        if port not in busy and port + 1 not in busy:
            return port
    raise SystemExit(f"no free pair of ports in {first}-{last}")
