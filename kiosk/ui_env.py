"""Kivy environment for every UI entry point. Import this module *before*
anything from kivy: Kivy reads these variables once, on its first import.

- no command-line parsing by Kivy (our CLI owns argv),
- a private KIVY_HOME so a developer's ~/.kivy/config.ini never leaks in,
  and no config file is read or written at all,
- no log files, warnings only on the console, Python's logging left alone,
- the mouse acts as a single finger (no red multitouch-simulation dots).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


def _private_kivy_home() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    home = Path(tempfile.gettempdir()) / f"estate-kiosk-kivy-{uid}"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def configure() -> None:
    defaults = {
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_CONFIG": "1",
        "KIVY_NO_FILELOG": "1",
        "KIVY_LOG_MODE": "MIXED",
        "KCFG_KIVY_LOG_LEVEL": "warning",
        "KCFG_INPUT_MOUSE": "mouse,disable_multitouch",
        "KCFG_KIVY_EXIT_ON_ESCAPE": "0",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("KIVY_HOME", str(_private_kivy_home()))


def chinese_font() -> str | None:
    """Path of a font with Simplified Chinese glyphs (KIOSK_FONT overrides)."""
    override = os.environ.get("KIOSK_FONT")
    if override:
        return override
    return next((path for path in FONT_CANDIDATES if Path(path).is_file()), None)


configure()
