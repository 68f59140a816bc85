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
import asyncio
from kiosk.bootstrap import build
from kiosk.config import load_kiosk_settings
from kiosk.screens.app import KioskApp
async def main():
    kiosk = build(load_kiosk_settings())
    app = KioskApp(kiosk); hook(app)
    await app.async_run(async_lib='asyncio')
    await kiosk.aclose()
asyncio.run(main())
"""


def measure(code: str) -> tuple[float, float]:
    # a real file, not `python -c`: Kivy's App looks up its source file for a .kv
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(code)
    start = time.monotonic()
    out = subprocess.run([sys.executable, script.name], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
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
    try:
        measure(BARE), measure(KIOSK)  # warm the page cache once, as a kiosk that has booted before
        bare, kiosk = [], []
        for _ in range(RUNS):  # interleaved so drift hits both alike
            bare.append(measure(BARE))
            kiosk.append(measure(KIOSK))
    finally:
        if display:
            display.stop()
    b_start = statistics.median(s for s, _ in bare)
    k_start = statistics.median(s for s, _ in kiosk)
    b_rss = statistics.median(r for _, r in bare)
    k_rss = statistics.median(r for _, r in kiosk)
    print(f"runs: {RUNS} each, interleaved, medians; Xvfb + Mesa llvmpipe; python {sys.version.split()[0]}")
    print(f"cold start to first screen: bare Kivy {b_start * 1000:.0f} ms, kiosk {k_start * 1000:.0f} ms"
          f" -> {k_start / b_start:.2f}x (target <= 1.30x)")
    print(f"RSS at idle after {IDLE_S:.0f} s: bare Kivy {b_rss:.1f} MB, kiosk {k_rss:.1f} MB"
          f" -> +{k_rss - b_rss:.1f} MB (target <= +60 MB)")


if __name__ == "__main__":
    main()
