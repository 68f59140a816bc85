"""`kiosk run`: the kiosk alone against the configured host (production mode)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from kiosk.config import load_kiosk_settings


def run_kiosk(config_path: Path) -> int:
    settings = load_kiosk_settings(config_path)  # a bad file fails here, before any window opens
    import kiosk.ui_env  # noqa: F401  (Kivy environment, before Kivy is imported)
    from kiosk.bootstrap import build
    from kiosk.screens.app import KioskApp

    async def main() -> None:
        kiosk = build(settings)
        try:
            await KioskApp(kiosk).async_run(async_lib="asyncio")
        finally:
            await kiosk.aclose()

    asyncio.run(main())
    return 0
