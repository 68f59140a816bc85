"""Fonts, colours and kv loading shared by every screen."""
from __future__ import annotations

from pathlib import Path

from kiosk import ui_env

from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.lang import Builder
from kivy.logger import Logger

HERE = Path(__file__).resolve().parent


def register_font() -> str | None:
    """Make the Chinese font Kivy's default family, so no Label ever falls
    back to Roboto (which has no CJK glyphs and draws boxes)."""
    font = ui_env.chinese_font()
    if font is None:
        Logger.error("Kiosk: no Chinese font found (install fonts-wqy-microhei or set KIOSK_FONT)")
        return None
    LabelBase.register(DEFAULT_FONT, fn_regular=font, fn_bold=font)
    return font


def load_kv(*paths: Path) -> None:
    """Load kv files once per Builder (tests push a fresh Builder per app)."""
    for path in paths:
        name = str(path)
        if name not in Builder.files:
            Builder.load_file(name)


def kv_files() -> list[Path]:
    return [HERE / "widgets.kv", *sorted(p for p in HERE.glob("*.kv") if p.name != "widgets.kv"),
            *sorted(HERE.glob("card_services/*.kv"))]      # the flows' own screens (the one-card's)


class P:
    """Palette: high contrast on a light background (WCAG AA or better for text)."""

    bg = (0.957, 0.965, 0.976, 1)          # #F4F6F9 page
    card = (1, 1, 1, 1)                    # panels
    text = (0.102, 0.122, 0.153, 1)        # #1A1F27
    muted = (0.29, 0.333, 0.396, 1)        # #4A5565
    primary = (0.043, 0.361, 0.678, 1)     # #0B5CAD buttons
    primary_down = (0.027, 0.255, 0.494, 1)
    on_primary = (1, 1, 1, 1)
    secondary = (0.867, 0.902, 0.945, 1)   # #DDE6F1
    secondary_down = (0.741, 0.800, 0.875, 1)
    accent = (0.047, 0.494, 0.365, 1)      # #0C7E5D green: card services, ok
    accent_down = (0.031, 0.369, 0.271, 1)
    warn = (0.702, 0.227, 0.0, 1)          # #B33A00 inline hints / errors (text)
    warn_bg = (1.0, 0.929, 0.878, 1)       # #FFEDE0
    ok_bg = (0.886, 0.965, 0.925, 1)       # #E2F6EC
    line = (0.80, 0.835, 0.875, 1)
    disabled = (0.70, 0.73, 0.77, 1)
    bench_bg = (0.176, 0.204, 0.251, 1)    # dark bench panel: clearly not the kiosk
    bench_card = (0.239, 0.275, 0.333, 1)
    bench_text = (0.94, 0.95, 0.96, 1)
    bench_muted = (0.72, 0.76, 0.81, 1)
