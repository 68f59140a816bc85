"""`kiosk run`: the kiosk alone against the configured host (production mode)."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import NoReturn

from kiosk.config import load_kiosk_settings

RESTART = 75   # the app stopped for staff's restart_app: run the same command again


def run_kiosk(config_path: Path) -> int:
    settings = load_kiosk_settings(config_path)  # a bad file fails here, before any window opens
    import kiosk.ui_env  # noqa: F401  (Kivy environment, before Kivy is imported)
    from kiosk.bootstrap import build
    from kiosk.screens.app import KioskApp

    async def main() -> int:
        kiosk = build(settings)
        app = KioskApp(kiosk)
        try:
            await app.async_run(async_lib="asyncio")
        finally:
            await kiosk.aclose()
        return RESTART if app.restart_requested else 0

    if asyncio.run(main()) == RESTART:
        restart_process()
    return 0


def restart_process() -> NoReturn:
    """Staff's restart_app: this process becomes the same command afresh (the
    journal and the fleet state file carry what must survive)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "kiosk", *sys.argv[1:]])
