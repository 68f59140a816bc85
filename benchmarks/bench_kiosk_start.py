"""Kiosk cold start (process spawn -> idle screen drawn) and RSS at idle, next
to a bare Kivy "hello" app in the same run on the same Xvfb. Prints figures;
not a timed test. Targets: start <= 1.3x bare, RSS <= bare + 60 MB.

The demo configuration runs from a copy whose journal (and so its pcscd, IC
cards and fleet state) is in this run's temporary folder, whose vpcd ports are
free ones and whose host is a closed port: a run never touches var/demo/ nor a
demo running beside it. No date matters here (nothing is seeded), so no --today.

    .venv/bin/python benchmarks/bench_kiosk_start.py [--runs 7] [--idle 3] [--quick]
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import free_port_pair, parse_args, temp_files_in  # noqa: E402
from kiosk.xvfb import ensure_display  # noqa: E402

# Both children report when their first screen has been drawn (two frames after
# on_start), then sit idle for BENCH_IDLE_S seconds and report RSS.
COMMON = """
import os, time, kiosk.ui_env
from kivy.clock import Clock
def rss_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
def hook(app):
    def idle_done(dt):
        print('RSS', rss_mb(), flush=True); app.stop()
    def drawn(dt):
        print('READY', time.monotonic(), flush=True)
        Clock.schedule_once(idle_done, float(os.environ["BENCH_IDLE_S"]))
    app.bind(on_start=lambda *a: Clock.schedule_once(lambda dt: Clock.schedule_once(drawn, 0), 0))
"""

BARE = COMMON + """
from kivy.config import Config
Config.set('graphics', 'width', '1280'); Config.set('graphics', 'height', '800')  # same window as the kiosk
from kivy.app import App
from kivy.uix.label import Label
class Hello(App):
    def build(self):
        return Label(text='hello')
app = Hello(); hook(app); app.run()
"""

KIOSK = COMMON + """
import asyncio, os
from kiosk.bootstrap import build
from kiosk.config import load_kiosk_settings
from kiosk.screens.app import KioskApp
async def main():
    kiosk = build(load_kiosk_settings(os.environ["BENCH_KIOSK_CONFIG"]))
    app = KioskApp(kiosk); hook(app)
    await app.async_run(async_lib='asyncio')
    await kiosk.aclose()
asyncio.run(main())
"""


# A site's configuration (real drivers: serial ports and the network printer are
# opened on first use, not at start) in the same 1280x800 window, against a
# host that is not running: start-up must not wait for it.
SITE_CONFIG = """
demo = true                     # it keeps the published demo TMK (allowed on loopback only)
[kiosk]
id = "KIOSK-DEMO-01"
estate_name = "翠湖花园"
[display]
width = 1280
height = 800
[host]
url = "http://127.0.0.1:9"
[bank]                          # the bank front-end, not running either
host = "127.0.0.1"
port = 9
terminal_id = "KIOSK001"
merchant_id = "898440350110001"
[security]
tmk = "7DF0AC87953F75AECD424B5A3BBFF50B"
[journal]
path = "%(journal)s"
[devices.card_reader]
kind = "serial"
port = "/dev/ttyS0"
[devices.pin_pad]
kind = "serial"
port = "/dev/ttyS1"
[devices.printer]
kind = "network"
host = "127.0.0.1"
tcp_port = 9
"""


def demo_config(tmp: Path) -> Path:
    """config/kiosk.demo.toml with its journal under `tmp`, free vpcd ports and no host."""
    text = (ROOT / "config" / "kiosk.demo.toml").read_text(encoding="utf-8")
    for key, value in (("url", '"http://127.0.0.1:9"'), ("path", f'"{tmp}/demo/journal.sqlite3"'),
                       ("vpcd_port", str(free_port_pair()))):
        text, found = re.subn(rf"^{key} = \S+", f"{key} = {value}", text, flags=re.MULTILINE)
        if found != 1:
            raise SystemExit(f"config/kiosk.demo.toml: expected one `{key} = ...` line, found {found}")
    path = tmp / "kiosk.demo.toml"
    path.write_text(text, encoding="utf-8")
    return path


def stop_stray_pcscd(tmp: Path) -> None:
    """A kiosk child that died before closing leaves its pcscd (in a session
    of its own) running: stop it by the pid it wrote in our folder."""
    pid_file = tmp / "demo" / "pcscd" / "pcscd.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        if b"pcscd" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGTERM)
            print(f"stopped a pcscd (pid {pid}) its kiosk left running", file=sys.stderr)
    except (OSError, ValueError, IndexError):
        pass


def measure(tmp: Path, code: str, config: Path | None, idle_s: float) -> tuple[float, float]:
    # a real file, not `python -c`: Kivy's App looks up its source file for a .kv
    script = tmp / "child.py"
    script.write_text(code, encoding="utf-8")
    start = time.monotonic()
    env = {**os.environ, "BENCH_KIOSK_CONFIG": str(config or ""), "BENCH_IDLE_S": str(idle_s)}
    temp_files_in(tmp / "tmp", env)   # shared by the children: Kivy's home is made once, as on a kiosk
    try:
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                             cwd=ROOT, env=env)
    finally:
        stop_stray_pcscd(tmp)
    ready = rss = None
    for line in out.stdout.splitlines():
        if line.startswith("READY"):
            ready = float(line.split()[1]) - start
        elif line.startswith("RSS"):
            rss = float(line.split()[1])
    if ready is None or rss is None:
        raise RuntimeError(f"child failed:\n{out.stdout}\n{out.stderr[-3000:]}")
    return ready, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "7")),
                        help="runs of each app, interleaved (default 7, or $BENCH_RUNS)")
    parser.add_argument("--idle", type=float, default=3.0,
                        help="seconds each app sits on its first screen before its RSS is read")
    args = parse_args(parser, {"runs": 1, "idle": 0.5}, dated=False)
    runs, idle_s = args.runs, args.idle

    display = ensure_display()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-kiosk-start-") as folder:
            tmp = Path(folder)
            site = tmp / "site.toml"
            site.write_text(SITE_CONFIG % {"journal": f"{tmp}/journal.sqlite3"}, encoding="utf-8")
            demo = demo_config(tmp)
            kinds = {"bare Kivy hello": (BARE, None), "kiosk, site config": (KIOSK, site),
                     "kiosk, demo config (+ simulators in-process)": (KIOSK, demo)}
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in kinds}
            for code, config in kinds.values():   # warm the page cache, as a kiosk that has booted before
                measure(tmp, code, config, idle_s)
            for _ in range(runs):  # interleaved so drift hits all alike
                for name, (code, config) in kinds.items():
                    results[name].append(measure(tmp, code, config, idle_s))
    finally:
        if display:
            display.stop()
    base_start = statistics.median(s for s, _ in results["bare Kivy hello"])
    base_rss = statistics.median(r for _, r in results["bare Kivy hello"])
    print(f"runs: {runs} each, interleaved, medians; {idle_s:g} s idle; 1280x800 window on Xvfb + Mesa llvmpipe;"
          f" python {sys.version.split()[0]}; targets: start <= 1.30x, RSS <= +60 MB of the bare app")
    for name, samples in results.items():
        start = statistics.median(s for s, _ in samples)
        rss = statistics.median(r for _, r in samples)
        print(f"  {name:<46} start {start * 1000:5.0f} ms ({start / base_start:.2f}x)"
              f"   RSS at idle {rss:6.1f} MB ({rss - base_rss:+.1f} MB)")


if __name__ == "__main__":
    main()
