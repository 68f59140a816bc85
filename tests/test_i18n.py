"""The message catalogues (common/catalogue.py, docs/i18n.md), the kiosk's and
the console's: complete in both languages with the same placeholders, the
compiled .mo files hold exactly what the .po files say, every key the code and
the templates use exists, and the kiosk font has a glyph for every character
(no boxes)."""
from __future__ import annotations

import logging
import os
import re
import string
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from common.catalogue import Catalogue, CatalogueError
from common.errors import KeyedError
from host.console import i18n as console_i18n
from kiosk.domain import errors  # noqa: F401  (defines the kiosk's KeyedError subclasses)
from kiosk.domain.bill import UTILITIES
from kiosk.i18n import CATALOGUE, LANGUAGES, format_date, pick, tr

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = {"kiosk": CATALOGUE, "console": console_i18n.CATALOGUE}


def po_texts(catalogue: Catalogue, lang: str) -> dict[str, str]:
    """key -> text as the .po file (the source, what translators edit) has it."""
    with catalogue.po_path(lang).open("rb") as po:
        read = read_po(po, locale=lang)
    assert not read.fuzzy and not [m.id for m in read if m.id and m.fuzzy], f"fuzzy entries in {lang}"
    return {str(m.id): str(m.string) for m in read if m.id}


KIOSK_TEXTS = {lang: po_texts(CATALOGUE, lang) for lang in LANGUAGES}
CONSOLE_TEXTS = {lang: po_texts(console_i18n.CATALOGUE, lang) for lang in console_i18n.LANGS}
KEYS = set(KIOSK_TEXTS["zh"])
UI_SOURCES = [*sorted((ROOT / "kiosk" / "screens").rglob("*.kv")), *sorted((ROOT / "kiosk" / "screens").rglob("*.py")),
              *sorted((ROOT / "kiosk" / "demo").rglob("*.kv")), *sorted((ROOT / "kiosk" / "demo").rglob("*.py"))]
NAMESPACES = {key.split(".", 1)[0] for key in KEYS}
QUOTED_KEY = re.compile(r"""['"]([a-z_]+(?:\.[A-Za-z0-9_]+)+)['"]""")


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# --- both domains --------------------------------------------------------------------
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_key_has_every_language_with_the_same_placeholders(domain: str) -> None:
    catalogue = DOMAINS[domain]
    assert catalogue.languages == ("zh", "en")
    # a language is a folder under locale/ and an entry in the tuple: neither without the other
    assert sorted(p.name for p in catalogue.locale_dir.iterdir() if p.is_dir()) == sorted(catalogue.languages)
    texts = {lang: po_texts(catalogue, lang) for lang in catalogue.languages}
    first, *others = catalogue.languages
    for lang in others:
        assert texts[lang].keys() == texts[first].keys(), (lang, texts[lang].keys() ^ texts[first].keys())
    for key in texts[first]:
        for lang in catalogue.languages:
            assert texts[lang][key].strip(), (key, lang)
            assert fields(texts[lang][key]) == fields(texts[first][key]), (key, lang)


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_compiled_catalogues_hold_exactly_the_po_texts(domain: str) -> None:
    """A .mo compiled from an older .po would show old texts; the loader refuses
    one older than its .po, and this holds the content to it as well."""
    catalogue = DOMAINS[domain]
    for lang in catalogue.languages:
        for key, text in po_texts(catalogue, lang).items():
            assert key in catalogue
            assert catalogue.text(key, lang) == text, (key, lang)


def _one_entry_catalogue(folder: Path, text: str = "你好，{name}") -> Catalogue:
    po = folder / "zh" / "LC_MESSAGES" / "demo.po"
    po.parent.mkdir(parents=True)
    po.write_text(f'msgid "greet"\nmsgstr "{text}"\n', encoding="utf-8")
    compiled = Catalog(locale="zh", fuzzy=False)
    compiled.add("greet", text)
    with po.with_suffix(".mo").open("wb") as mo:
        write_mo(mo, compiled)
    return Catalogue("demo", folder, ("zh",))


def test_a_missing_or_stale_compiled_catalogue_names_the_command_to_run(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"demo\.mo is missing: run scripts/setup\.sh"):
        Catalogue("demo", tmp_path, ("zh",)).text("greet", "zh")
    catalogue = _one_entry_catalogue(tmp_path / "fresh")
    assert catalogue.text("greet", "zh", name="张三") == "你好，张三"
    stale = _one_entry_catalogue(tmp_path / "stale")
    later = stale.mo_path("zh").stat().st_mtime + 10
    os.utime(stale.po_path("zh"), (later, later))           # the .po was edited after the compile
    with pytest.raises(CatalogueError, match=r"demo\.mo is older than demo\.po: run scripts/setup\.sh"):
        stale.text("greet", "zh")


@pytest.mark.parametrize("domain", DOMAINS)
def test_an_unknown_key_is_logged_as_an_error_and_shows_itself(domain: str, caplog: pytest.LogCaptureFixture) -> None:
    catalogue = DOMAINS[domain]
    with caplog.at_level(logging.ERROR, logger="common.catalogue"):
        assert catalogue.text("no.such.key", "en") == "no.such.key"
        assert catalogue.text("", "en") == ""                 # msgid "" is the header, not a text
    assert [r.getMessage() for r in caplog.records] == [f"i18n: no {domain} catalogue entry 'no.such.key'",
                                                        f"i18n: no {domain} catalogue entry ''"]
    assert "no.such.key" not in catalogue and "" not in catalogue


# --- the kiosk -----------------------------------------------------------------------
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
    seen, todo = set(), [KeyedError]   # the kiosk's errors and the shared parsers'
    while todo:
        cls = todo.pop()
        seen.add(cls)
        todo.extend(cls.__subclasses__())
    keys = {cls.message_key for cls in seen}
    assert {"error.generic", "error.bad_house_number", "error.host", "error.host_unavailable",
            "error.host_rejected", "error.house_not_found", "error.host_bad_reply"} <= keys
    assert keys <= KEYS
    assert all(key in CATALOGUE for key in keys)


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
    texts = [text for lang in LANGUAGES for text in KIOSK_TEXTS[lang].values()]
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


# --- the console ---------------------------------------------------------------------
CONSOLE = ROOT / "host" / "console"
CONSOLE_NAMESPACES = {key.split(".", 1)[0] for key in CONSOLE_TEXTS["zh"]}
# Jinja's `t('txn.status.' ~ r.status)` and Python's f"device.{state}": the keys these build are checked below
KEY_PREFIX = re.compile(r"""(?:\bf['"]|['"])([a-z_]+(?:\.[a-z_]+)*\.)(?:['"]\s*~|\{)""")


def test_every_console_key_used_in_code_and_templates_exists() -> None:
    used: dict[str, str] = {}
    sources = [*sorted(CONSOLE.glob("*.py")), *sorted((CONSOLE / "templates").glob("*.html"))]
    for path in sources:
        if path.name == "i18n.py":
            continue
        for key in QUOTED_KEY.findall(path.read_text(encoding="utf-8")):
            if key.split(".", 1)[0] in CONSOLE_NAMESPACES and not key.endswith((".py", ".html", ".css", ".js")):
                used.setdefault(key, path.name)
    assert len(used) > 150, "the scan found suspiciously few keys"
    missing = {key: name for key, name in used.items() if key not in console_i18n.CATALOGUE}
    assert not missing


def test_keys_the_console_builds_at_run_time_exist() -> None:
    from host.console.audit import ACTIONS
    from host.console.fleet_view import DEVICE_COLUMNS, FILTERS
    from host.console.kiosk_view import DEVICE_LEVEL, STATUS_LEVEL
    from host.schema.console import ROLES
    from host.console.transactions import KINDS, STATUSES
    from host.fleet.model import COMMANDS

    built = {*(f"role.{r}" for r in ROLES), *(f"audit.action.{a}" for a in ACTIONS),
             *(f"fleet.filter.{f}" for f in FILTERS), *(f"txn.status.{s}" for s in STATUSES),
             *(f"txn.kind.{k}" for k in KINDS), *(f"cmd.{c}" for c in COMMANDS),
             *(f"cmd.status.{s}" for s in STATUS_LEVEL), *(f"device.{d}" for d in DEVICE_COLUMNS),
             *(f"device.{s}" for s in (*DEVICE_LEVEL, "fault", "paper_out")),
             *(f"hist.service.{s}" for s in ("out_of_service", "in_service"))}
    assert not {key for key in built if key not in console_i18n.CATALOGUE}
    # every prefix the code builds a key from is one of the catalogue's
    prefixes = {prefix for path in [*CONSOLE.glob("*.py"), *(CONSOLE / "templates").glob("*.html")]
                for prefix in KEY_PREFIX.findall(path.read_text(encoding="utf-8"))}
    assert prefixes and all(any(key.startswith(p) for key in CONSOLE_TEXTS["zh"]) for p in prefixes), prefixes


def test_the_console_reads_chinese_by_default_and_english_on_request() -> None:
    assert console_i18n.translator("zh")("nav.fleet") == "设备总览"
    assert console_i18n.translator("en")("nav.fleet") == "Fleet"
    assert console_i18n.translator("en")("fleet.showing", first=1, last=4, total=4) == "1–4 of 4"
