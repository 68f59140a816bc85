"""The kiosk's messages: every text a resident (or a tester at the bench) sees,
in Simplified Chinese (the default) and English, and how dates read in each.
No Kivy import here, so the catalogue is checked by plain unit tests
(tests/test_i18n.py).

The texts live in gettext catalogues, kiosk/locale/<lang>/LC_MESSAGES/kiosk.po
(compiled to .mo by scripts/setup.sh; common/catalogue.py, docs/i18n.md).
Keys are dotted (`screen.what`) msgids. Placeholders use str.format names and
must be the same in both languages. Screens call `tr(key, lang, **fields)`; the
error types in kiosk/domain/errors.py name their key in `message_key`.
"""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from common.catalogue import Catalogue

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

CATALOGUE = Catalogue("kiosk", Path(__file__).resolve().parent / "locale", LANGUAGES)


def tr(key: str, lang: str = DEFAULT_LANGUAGE, /, **fields: object) -> str:
    """The text for `key` in `lang` (Chinese unless "en"), with `fields` filled
    in. An unknown key shows itself (and is logged) rather than crashing a
    resident's screen; tests/test_i18n.py keeps that from ever happening."""
    return CATALOGUE.text(key, "en" if lang == "en" else DEFAULT_LANGUAGE, **fields)


def other_language(lang: str) -> str:
    return "en" if lang == "zh" else "zh"


def pick(text: str, lang: str) -> str:
    """Config texts such as notices may be written bilingual as "中文 / English";
    show the half in the resident's language (the whole text if not split)."""
    parts = [p.strip() for p in text.split(" / ", 1)]
    if len(parts) == 2 and all(parts):
        return parts[1] if lang == "en" else parts[0]
    return text


def format_date(day: date, lang: str) -> str:
    return tr("date.full", lang, year=day.year, day=day.day,
              weekday=tr(f"weekday.{day.weekday()}", lang), month_name=tr(f"month.{day.month}", lang))


def format_clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")
