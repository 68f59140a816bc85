"""`kiosk demo`: the reference host in a background process on SQLite with a
seeded estate, and the kiosk beside its device bench, all on this machine;
`kiosk demo --tour DIR` drives it through every screen and saves a PNG of each."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from pathlib import Path

from kiosk.config import DEMO_KIOSK_CONFIG, KioskSettings, load_kiosk_settings
from common.settings import PROJECT_ROOT
from kiosk.demo.host import DemoHost, free_port, prepare_database
from kiosk.devices.sim.pcscd import write_pcscd_info
from kiosk.runner import RESTART, restart_process
from kiosk.xvfb import ensure_display

DEMO_DIR = PROJECT_ROOT / "var" / "demo"   # the interactive demo: payments persist between runs
TOUR_DIR = PROJECT_ROOT / "var" / "tour"   # the screenshot tour: a fresh estate every time


def run_demo(tour_dir: Path | None = None) -> int:
    display = None
    if not os.environ.get("DISPLAY"):
        if tour_dir is None:
            print("kiosk demo: no display. Run it on a desktop, or headless with "
                  "`kiosk demo --tour DIR` to get a screenshot of every screen.", file=sys.stderr)
            return 2
        display = ensure_display()

    folder = DEMO_DIR if tour_dir is None else TOUR_DIR
    host = DemoHost.adopt(f"sqlite:///{folder / 'host.db'}", folder / "host.log") if tour_dir is None else None
    if host is None:
        host = DemoHost(prepare_database(folder, fresh=tour_dir is not None), free_port(), folder / "host.log")
        host.start()
    code = 1
    try:
        settings = load_kiosk_settings(DEMO_KIOSK_CONFIG)
        settings = dataclasses.replace(settings, host=dataclasses.replace(settings.host, url=host.link.url),
                                       journal_path=str(folder / "journal.sqlite3"))
        code = asyncio.run(_run_app(settings, host, tour_dir))
    finally:
        if code == RESTART:
            host.hand_over()     # staff restarted the kiosk app, not the host: the console stays up
        else:
            host.stop()
        host.link.close()
        if display is not None:
            display.stop()
    if code == RESTART:
        restart_process()
    return code


async def _run_app(settings: KioskSettings, host: DemoHost, tour_dir: Path | None) -> int:
    # Kivy loads here, not at import: without a display `kiosk demo` says so
    # first, and `--tour` starts Xvfb before Kivy looks for one.
    from kiosk import ui_env  # noqa: F401  (Kivy environment, before Kivy is imported; `kiosk` is a local here)
    from kiosk.bootstrap import build
    from kiosk.demo.bench.panel import bench_panel
    from kiosk.demo.tour.run import run_tour
    from kiosk.screens.app import KioskApp

    kiosk = build(settings)
    if tour_dir is None and kiosk.sims is not None and kiosk.sims.pcscd is not None:
        # `kiosk sim card insert` (another terminal) finds the demo's readers here
        write_pcscd_info(kiosk.sims.pcscd.ports, kiosk.sims.pcscd.socket_path)
    app = KioskApp(kiosk, side_panel=bench_panel(host, kiosk))
    try:
        if tour_dir is None:
            await app.async_run(async_lib="asyncio")
            return RESTART if app.restart_requested else 0
        run = asyncio.ensure_future(app.async_run(async_lib="asyncio"))
        shots = await run_tour(app, tour_dir)
        await run
        print("\n".join(str(p) for p in shots))
        return 0
    finally:
        await kiosk.aclose()
