"""The console's words in Chinese and English, and how numbers, times and
durations read in each. Chinese is the default (the property office).

The texts live in gettext catalogues,
host/console/locale/<lang>/LC_MESSAGES/console.po (compiled to .mo by
scripts/setup.sh; common/catalogue.py, docs/i18n.md); the keys are dotted msgids.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from common.catalogue import Catalogue

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

CATALOGUE = Catalogue("console", Path(__file__).resolve().parent / "locale", LANGS)


def translator(lang: str) -> Callable[..., str]:
    """`t(key, **values)` in `lang` (English unless "zh"). An unknown key is
    logged and shows itself; the console's tests fail on that log line."""
    language = "zh" if lang == "zh" else "en"

    def t(key: str, **values: object) -> str:
        return CATALOGUE.text(key, language, **values)
    return t


def pick_lang(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGS:
        return cookie
    if accept_language and accept_language.lower().startswith("en"):
        return "en"
    return DEFAULT_LANG


# --- formats --------------------------------------------------------------------
def money(fen: int | None) -> str:
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def when(epoch: float | None, now: float) -> str:
    """Today: 10:42:05; another day: 11-20 10:42; another year: 2025-11-20 10:42."""
    if epoch is None:
        return "—"
    moment = datetime.fromtimestamp(epoch)
    today = datetime.fromtimestamp(now)
    if moment.date() == today.date():
        return f"{moment:%H:%M:%S}"
    if moment.year == today.year:
        return f"{moment:%m-%d %H:%M}"
    return f"{moment:%Y-%m-%d %H:%M}"


def full_time(epoch: float | None) -> str:
    return "—" if epoch is None else f"{datetime.fromtimestamp(epoch):%Y-%m-%d %H:%M:%S}"


def duration(seconds: float | None, lang: str) -> str:
    """Rounded to what matters: 45 s, 3 min, 2 h 5 min, 3 d 4 h."""
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    zh = lang == "zh"
    if s < 60:
        return f"{s} 秒" if zh else f"{s} s"
    m = s // 60
    if m < 60:
        return f"{m} 分钟" if zh else f"{m} min"
    h, m = divmod(m, 60)
    if h < 24:
        return (f"{h} 小时 {m} 分" if zh else f"{h} h {m} min") if m else (f"{h} 小时" if zh else f"{h} h")
    d, h = divmod(h, 24)
    return (f"{d} 天 {h} 小时" if zh else f"{d} d {h} h") if h else (f"{d} 天" if zh else f"{d} d")
