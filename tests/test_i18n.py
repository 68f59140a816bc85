"""The string catalogue: complete in both languages, every key the screens use
exists, and the kiosk font has a glyph for every character (no boxes)."""
from __future__ import annotations

import re
import string
from datetime import date
from pathlib import Path

import pytest

from kiosk.domain import errors
from kiosk.domain.bill import UTILITIES
from kiosk.i18n import CATALOGUE, LANGUAGES, format_date, pick, tr

ROOT = Path(__file__).resolve().parent.parent
UI_SOURCES = [*sorted((ROOT / "kiosk" / "screens").rglob("*.kv")), *sorted((ROOT / "kiosk" / "screens").rglob("*.py")),
              *sorted((ROOT / "kiosk" / "bench").glob("*.kv")), *sorted((ROOT / "kiosk" / "bench").glob("*.py")),
              ROOT / "kiosk" / "tour.py"]
NAMESPACES = {key.split(".", 1)[0] for key in CATALOGUE}
QUOTED_KEY = re.compile(r"""['"]([a-z_]+(?:\.[A-Za-z0-9_]+)+)['"]""")


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_has_both_languages_with_the_same_placeholders() -> None:
    assert LANGUAGES == ("zh", "en")
    for key, (zh, en) in CATALOGUE.items():
        assert zh.strip() and en.strip(), key
        assert fields(zh) == fields(en), key


def test_chinese_is_the_default_and_english_differs() -> None:
    assert tr("idle.pay") == "缴费"
    assert tr("idle.pay", "en") == "Pay bills"
    assert tr("utility.water") == "水费" and tr("utility.electricity") == "电费"
    assert tr("utility.gas") == "燃气费" and tr("utility.property") == "物业费"


def test_every_key_used_by_the_screens_exists() -> None:
    used: dict[str, Path] = {}
    for path in UI_SOURCES:
        for key in QUOTED_KEY.findall(path.read_text(encoding="utf-8")):
            if key.split(".", 1)[0] in NAMESPACES:
                used.setdefault(key, path)
    assert len(used) > 40, "the scan found suspiciously few keys"
    missing = {key: str(path.relative_to(ROOT)) for key, path in used.items() if key not in CATALOGUE}
    assert not missing


def test_every_error_message_key_exists() -> None:
    seen, todo = set(), [errors.KioskError]
    while todo:
        cls = todo.pop()
        seen.add(cls)
        todo.extend(cls.__subclasses__())
    keys = {cls.message_key for cls in seen}
    assert {"error.generic", "error.bad_house_number", "error.host", "error.host_unavailable",
            "error.host_rejected", "error.house_not_found", "error.host_bad_reply"} <= keys
    assert keys <= CATALOGUE.keys()


def test_dynamic_keys_exist() -> None:
    for utility in UTILITIES:
        assert f"utility.{utility}" in CATALOGUE
    for unit in ("m3", "kWh", "m2"):
        assert f"unit.{unit}" in CATALOGUE
    for n in range(7):
        assert f"weekday.{n}" in CATALOGUE
    for n in range(1, 13):
        assert f"month.{n}" in CATALOGUE


def test_unknown_key_shows_itself_rather_than_crashing() -> None:
    assert tr("no.such.key", "en") == "no.such.key"


def test_dates_and_bilingual_config_texts() -> None:
    day = date(2026, 11, 21)
    assert format_date(day, "zh") == "2026年11月21日 星期六"
    assert format_date(day, "en") == "Saturday 21 November 2026"
    assert pick("物业电话 / Property office", "zh") == "物业电话"
    assert pick("物业电话 / Property office", "en") == "Property office"
    assert pick("只有中文", "en") == "只有中文"


def test_the_kiosk_font_has_every_glyph() -> None:
    """A character the font lacks renders as a box on screen."""
    image_font = pytest.importorskip("PIL.ImageFont")
    from kiosk.ui_env import chinese_font

    path = chinese_font()
    if path is None:
        pytest.skip("no Chinese font installed")
    font = image_font.truetype(path, 32)
    missing_mask = bytes(font.getmask("\uffff"))
    texts = [text for pair in CATALOGUE.values() for text in pair]
    texts += ["¥0123456789,.-→×·…", "m³ m² kWh"]
    chars = {c for text in texts for c in text if not c.isspace()}
    missing = sorted(c for c in chars if bytes(font.getmask(c)) == missing_mask)
    assert not missing, f"no glyph for {missing}"


def test_payment_keys_exist() -> None:
    """Keys the payment screens build at run time (decline.<code>, receipt.<state>)."""
    from kiosk.screens.messages import BANK, codes_sent_by

    codes = {"wrong_pin", "pin_locked", "insufficient_funds", "card_blocked", "expired_card", "daily_limit",
             "unknown_card", "bill_changed", "nothing_due", "reversed"}   # docs/payments.md
    assert codes_sent_by(BANK) == codes
    for code in codes | {"other"}:
        assert f"decline.{code}" in CATALOGUE, code
    for state in ("printing", "printed", "not_printed", "skipped"):
        assert f"receipt.{state}" in CATALOGUE
    for key in ("error.device", "error.reader_fault", "error.bad_swipe", "error.swipe_timeout",
                "error.pinpad_fault", "error.pin_cancelled", "error.pin_timeout", "error.printer_fault",
                "error.paper_out", "error.outcome_unknown", "error.payments_suspended"):
        assert key in CATALOGUE, key
    assert tr("pin.wrong", "en", tries=2) == "Wrong PIN. 2 tries left: please enter it again."
