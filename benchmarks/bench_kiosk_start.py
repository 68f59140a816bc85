"""Kiosk cold start (process spawn -> idle screen drawn) and RSS at idle, next
to a bare Kivy "hello" app in the same run on the same Xvfb. Prints figures;
not a timed test. Targets: start <= 1.3x bare, RSS <= bare + 60 MB."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kiosk.xvfb import ensure_display  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
IDLE_S = 3.0  # how long the app sits on its first screen before RSS is read

# Both children report when their first screen has been drawn (two frames after
# on_start), then sit idle for IDLE_S and report RSS.
COMMON = """
import time, kiosk.ui_env
from kivy.clock import Clock
def rss_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
def hook(app):
    def idle_done(dt):
        print('RSS', rss_mb(), flush=True); app.stop()
    def drawn(dt):
        print('READY', time.monotonic(), flush=True); Clock.schedule_once(idle_done, %(idle)s)
    app.bind(on_start=lambda *a: Clock.schedule_once(lambda dt: Clock.schedule_once(drawn, 0), 0))
""" % {"idle": IDLE_S}

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
[kiosk]
id = "KIOSK-DEMO-01"
estate_name = "翠湖花园"
[display]
width = 1280
height = 800
[host]
url = "http://127.0.0.1:9"
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


def measure(code: str, config: Path | None = None) -> tuple[float, float]:
    # a real file, not `python -c`: Kivy's App looks up its source file for a .kv
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(code)
    start = time.monotonic()
    env = {**os.environ, "BENCH_KIOSK_CONFIG": str(config or "")}
    out = subprocess.run([sys.executable, script.name], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env=env)
    os.unlink(script.name)
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
    display = ensure_display()
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site.toml"
        site.write_text(SITE_CONFIG % {"journal": f"{tmp}/journal.sqlite3"}, encoding="utf-8")
        demo = ROOT / "config" / "kiosk.demo.toml"
        kinds = {"bare Kivy hello": (BARE, None), "kiosk, site config": (KIOSK, site),
                 "kiosk, demo config (+ simulators in-process)": (KIOSK, demo)}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in kinds}
        try:
            for code, config in kinds.values():   # warm the page cache, as a kiosk that has booted before
                measure(code, config)
            for _ in range(RUNS):  # interleaved so drift hits all alike
                for name, (code, config) in kinds.items():
                    results[name].append(measure(code, config))
        finally:
            if display:
                display.stop()
    base_start = statistics.median(s for s, _ in results["bare Kivy hello"])
    base_rss = statistics.median(r for _, r in results["bare Kivy hello"])
    print(f"runs: {RUNS} each, interleaved, medians; 1280x800 window on Xvfb + Mesa llvmpipe;"
          f" python {sys.version.split()[0]}; targets: start <= 1.30x, RSS <= +60 MB of the bare app")
    for name, runs in results.items():
        start = statistics.median(s for s, _ in runs)
        rss = statistics.median(r for _, r in runs)
        print(f"  {name:<46} start {start * 1000:5.0f} ms ({start / base_start:.2f}x)"
              f"   RSS at idle {rss:6.1f} MB ({rss - base_rss:+.1f} MB)")


if __name__ == "__main__":
    main()
