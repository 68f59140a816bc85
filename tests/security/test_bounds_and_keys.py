"""Penetration-test findings: bounded input and no demo keys outside the demo
(docs/host-api.md "Limits", docs/payments.md "Keys"). Written as the attacker
tried them, over real HTTP on loopback against the demo host (demo keys, the
demo estate):

- a body of 5,000 `[` on every signed endpoint: 400 bad_request, a JSON error,
  no traceback (it was a 500 RecursionError);
- a 10 MB body: refused (413) from its length, without being read or parsed;
- house numbers, months and card numbers in non-ASCII digits (`٢-٢-902`):
  400 bad_house_number / bad_request (the look-up, a wallet purchase or load);
- a CSV field over csv's limit: a line problem and exit 1, no traceback;
- a config file that is not UTF-8: the config error;
- published demo/test keys and degenerate keys in a site config, and the
  shipped site examples' placeholders: refused at start."""
from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.signing import KioskSigner
from sqlalchemy import func, select

from tests.support.clocks import running_from, TODAY
from host import cli
from host.http_body import MAX_BODY
from host.cards.api import HANDLERS
from host.config import DEMO_HOST_CONFIG, load_host_settings
from host.schema.cards import card_txns
from tests.support.card_centre import TERM_ID, WHEN, hex_
from tests.support.databases import BACKENDS, Databases
from common.settings import CONFIG_DIR, ConfigError
from kiosk.config import DEMO_KIOSK_CONFIG, load_kiosk_settings
from common.demo_cards import load_test_cards
from common.errors import BadHouseNumber
from common.house import HouseNumber, is_plausible_prefix

DEMO_KIOSK = "KIOSK-DEMO-01"
DEMO_TMK = bytes.fromhex("7DF0AC87953F75AECD424B5A3BBFF50B")
GOOD = next(c for c in load_test_cards().cards if c.pan == "6222021000000000017")
BACKUP = "/api/v1/property/transactions"
PURCHASE, LOAD = "/api/v1/cards/purchase/authorise", "/api/v1/cards/load/authorise"
ONECARD_BLACKLIST = "/api/v1/onecard/blacklist"

SIGNED = ["/api/v1/bank/sign-on", "/api/v1/property/transactions", *(f"/api/v1/cards/{path}" for path in HANDLERS),
          "/api/v1/fleet/heartbeat"]


@pytest.fixture(scope="module", params=BACKENDS)
def host(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, start_host: Callable[..., Any],
         databases: Databases) -> Iterator[Any]:
    """The demo host, one per backend for the module."""
    server = start_host(tmp_path_factory.mktemp("bounds-host"), backend=request.param)
    yield server
    server.bank.stop()
    server.stop()
    server.engine.dispose()
    databases.release(server.db_url)


@pytest.fixture
def kiosk(host: Any) -> Iterator[KioskSigner]:
    signer = KioskSigner(host.url, DEMO_KIOSK, DEMO_TMK)
    with host.engine.connect() as conn:   # the module's host is shared: start above its last counter
        from host.schema.bank import kiosks
        signer.counter = conn.execute(select(kiosks.c.last_counter).where(
            kiosks.c.kiosk_id == DEMO_KIOSK)).scalar() or 0
    assert signer.sign_on().status == 200
    yield signer
    signer.close()


def assert_clean_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["error"] == "bad_request"
    assert "Traceback" not in response.text and "RecursionError" not in response.text


# --- JSON bombs and huge bodies ------------------------------------------------------
@pytest.mark.parametrize("path", SIGNED)
def test_deeply_nested_json_is_a_400_on_every_signed_endpoint(host: Any, path: str) -> None:
    with httpx.Client(timeout=10) as http:
        for raw in (b"[" * 5000, b'{"kiosk_id":"KIOSK-DEMO-01","counter":1,"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
                    b'{"kiosk_id":"KIOSK-DEMO-01","counter":1,"x":' + b"[" * 100 + b"]" * 100 + b"}"):
            assert_clean_error(http.post(host.url + path, content=raw, headers={"X-MAC": "00" * 8}), 400)


# (the heartbeat keeps such a text as U+FFFD instead -- refusing it would show the kiosk
# offline -- tests/fleet/test_heartbeat_api.py)
@pytest.mark.parametrize("path", [p for p in SIGNED if p != "/api/v1/fleet/heartbeat"])
def test_text_no_column_can_hold_is_a_400_on_every_signed_endpoint(host: Any, kiosk: KioskSigner, path: str) -> None:
    """A NUL character (PostgreSQL stores none: it was a 500 there) or a lone
    surrogate in any string, key or value, of a correctly signed message."""
    key = kiosk.tmk if path.endswith("/sign-on") else kiosk.mak
    for fields in ({"txn_id": "T-1\x00"}, {"house_no\x00": "3-2-1202"}, {"txn": {"note": ["\ud800"]}}):
        kiosk.counter += 1
        raw = json.dumps({"kiosk_id": DEMO_KIOSK, "counter": kiosk.counter, **fields}).encode()   # \u0000, \ud800
        reply = kiosk.send(path, raw, key)
        assert reply.status == 400 and reply.json["error"] == "bad_request", (fields, reply.body)
        assert "NUL" in reply.json["message"]


@pytest.mark.parametrize("path", ["/api/v1/property/transactions", "/api/v1/cards/seen", "/api/v1/fleet/heartbeat"])
def test_a_10_mb_body_is_refused_unread(host: Any, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[int] = []
    real_loads = json.loads
    monkeypatch.setattr("host.bank.security.json.loads", lambda raw, *a, **k: parsed.append(len(raw)) or
                        real_loads(raw, *a, **k))
    big = b'{"kiosk_id":"KIOSK-DEMO-01","counter":1,"pad":"' + b"x" * (10 * 1024 * 1024) + b'"}'

    def chunks() -> Iterator[bytes]:          # no Content-Length: the cap must hold on the stream too
        for i in range(0, len(big), 256 * 1024):
            yield big[i:i + 256 * 1024]

    answered = 0
    with httpx.Client(timeout=10) as http:
        for content in (big, chunks()):
            started = time.monotonic()
            try:
                response = http.post(host.url + path, content=content)
            except httpx.TransportError:      # the host may close before all 10 MB are sent: refused too
                continue
            assert time.monotonic() - started < 3
            assert_clean_error(response, 413)
            assert str(MAX_BODY) in response.json()["message"]
            answered += 1
    assert answered and not any(n > MAX_BODY for n in parsed)


def test_a_body_just_over_the_cap_is_refused_and_one_under_it_is_read(host: Any, kiosk: KioskSigner) -> None:
    over = kiosk.body({"pad": "x" * MAX_BODY})
    assert_clean_error(httpx.post(host.url + BACKUP, content=over), 413)
    under = kiosk.body({"txn": {"txn_id": "T-UNDER", "note": "x" * 60_000}})
    reply = kiosk.send(BACKUP, under, kiosk.mak)
    assert reply.status == 200 and reply.json == {"stored": True}     # read


# --- the fields of a wallet purchase or load (a bill, a bank card) ----------------------
def wallet_request(**overrides: Any) -> dict[str, Any]:
    """A card centre request whose own fields are good: only the override is wrong."""
    return {"txn_id": f"KIOSK-DEMO-01-{secrets.token_hex(6)}", "serial": "0" * 20, "wallet": "ED",
            "house_no": "3-2-1202", "periods": ["2026-10"], "amount_fen": 1, "balance_fen": 1, "card_counter": 1,
            "random": "00" * 4, "term_txn_no": 1, "term_id": hex_(TERM_ID), "when": WHEN, "mac1": "00" * 4,
            "pan": GOOD.pan, "track2": GOOD.track2, "expiry": GOOD.expiry, "pin_block": "00" * 8, **overrides}


def card_txn_count(host: Any) -> int:
    with host.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(card_txns)).scalar_one())


def test_too_many_periods_are_refused(host: Any, kiosk: KioskSigner) -> None:
    periods = [f"{y}-{m:02d}" for y in range(2000, 2026) for m in range(1, 13)]
    reply = kiosk.post(PURCHASE, wallet_request(periods=periods))
    assert reply.status == 400 and "periods" in reply.json["message"]


def test_a_backup_copy_amount_beyond_64_bits_is_a_400(host: Any, kiosk: KioskSigner) -> None:
    # 2 ** 63: no Luhn-valid window in its digits, so the PAN guard lets it through to the bound
    reply = kiosk.post("/api/v1/property/transactions", {"txn": {"txn_id": "T-BIG", "amount_fen": 2 ** 63}})
    assert reply.status == 400 and reply.json["error"] == "bad_request"


def test_a_blacklist_version_beyond_64_bits_is_a_400(host: Any, kiosk: KioskSigner) -> None:
    reply = kiosk.post("/api/v1/cards/blacklist", {"since": 2 ** 70})
    assert reply.status == 400 and reply.json["error"] == "bad_request"


@pytest.mark.parametrize("path", ["/api/v1/cards/blacklist", ONECARD_BLACKLIST])
def test_a_blacklist_version_beyond_32_bits_has_no_changes(host: Any, kiosk: KioskSigner, path: str) -> None:
    """The versions are 32-bit columns: a later `since` is answered (it was a 500 on PostgreSQL)."""
    now = kiosk.post(path, {"since": 0}).json["version"]
    for since in (2 ** 31 - 1, 2 ** 31, 2 ** 63 - 1):
        reply = kiosk.post(path, {"since": since})
        assert reply.status == 200 and reply.json == {"version": now, "changes": []}, reply.body


# --- ASCII digits only ------------------------------------------------------------------
@pytest.mark.parametrize("text", ["٢-٢-902", "2-2-٩٠٢", "２-２-902", "2-2-९०२"])
def test_house_numbers_in_other_digits_are_refused(host: Any, kiosk: KioskSigner, text: str) -> None:
    with pytest.raises(BadHouseNumber):
        HouseNumber.parse(text)
    assert not is_plausible_prefix(text)
    reply = kiosk.post("/api/v1/households/bill", {"house_no": text})      # the signed look-up
    assert reply.status == 400 and reply.json["error"] == "bad_house_number"


def test_other_digits_are_refused_in_a_purchase_and_a_load(host: Any, kiosk: KioskSigner) -> None:
    arabic = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    for path, fields, word in (
            (PURCHASE, {"house_no": "٣-٢-١٢٠٢"}, "house_no"), (PURCHASE, {"periods": ["٢٠٢٦-10"]}, "periods"),
            (LOAD, {"pan": GOOD.pan.translate(arabic), "track2": GOOD.track2.translate(arabic),
                    "expiry": GOOD.expiry.translate(arabic)}, "track2")):
        before = card_txn_count(host)
        reply = kiosk.post(path, wallet_request(**fields))
        assert reply.status == 400 and reply.json["error"] == "bad_request", fields
        assert word in reply.json["message"], reply.json
        assert card_txn_count(host) == before


# --- the meter-reading CSV -----------------------------------------------------------
def test_a_csv_field_over_the_csv_limit_is_a_line_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "readings.csv"
    csv_path.write_text("period,house_no,utility,reading\n2026-10,3-2-1202,water,1.00\n"
                        f'2026-10,3-2-1202,gas,"{"9" * 140_000}"\n', encoding="utf-8")
    code = cli.import_readings(DEMO_HOST_CONFIG, csv_path, str(tmp_path / "host.sqlite3"),
                               clock=running_from(TODAY))
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err and "line 3: a field is longer than" in err
    assert len(err) < 2000


# --- config files ------------------------------------------------------------------------
def test_a_config_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[host]\nestate_name = "Résidence"\n'.encode("latin-1"))
    for load in (load_kiosk_settings, load_host_settings):
        with pytest.raises(ConfigError) as info:
            load(path)
        assert info.value.reason == "not UTF-8 text" and str(path) in str(info.value)


def site_kiosk(tmp_path: Path, tmk: str, *, head: str = "", url: str = "https://host.estate.lan") -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'{head}[kiosk]\nid = "KIOSK-0007"\nestate_name = "x"\n[host]\nurl = "{url}"\n'
                    f'[security]\ntmk = "{tmk}"\n', encoding="utf-8")
    return path


def site_host(tmp_path: Path, tmk: str, *, head: str = "", listen: str = "0.0.0.0", cards: str = "") -> Path:
    text = DEMO_HOST_CONFIG.read_text(encoding="utf-8")
    text = text.replace("demo = true\n", head, 1).replace('listen_host = "127.0.0.1"', f'listen_host = "{listen}"', 1)
    text = re.sub(r'(\[kiosks\."KIOSK-DEMO-01"\]\ntmk = )"[0-9A-F]{32}"', rf'\g<1>"{tmk}"', text)
    if cards:
        text = re.sub(r'dlk = "[0-9A-F]{32}"', f'dlk = "{cards}"', text)
    path = tmp_path / "host.toml"
    path.write_text(text, encoding="utf-8")
    return path


OWN = "3C9A1F0B7D2E4A6C8B1D3F5E7A9C0B2D"     # a key of the site's own
BAD_KEYS = [("7DF0AC87953F75AECD424B5A3BBFF50B", "published"),          # the demo TMK
            ("0123456789ABCDEFFEDCBA9876543210", "published"),          # the tests' fixture TMK
            ("00000000000000000000000000000000", "all zero"),
            ("ABABABABABABABABABABABABABABABAB", "one byte repeated"),
            ("0123456789ABCDEF0123456789ABCDEF", "halves are equal")]


@pytest.mark.parametrize("tmk, reason", BAD_KEYS)
def test_a_site_kiosk_refuses_demo_and_degenerate_keys(tmp_path: Path, tmk: str, reason: str) -> None:
    assert load_kiosk_settings(site_kiosk(tmp_path, OWN)).tmk == bytes.fromhex(OWN)
    with pytest.raises(ConfigError) as info:
        load_kiosk_settings(site_kiosk(tmp_path, tmk))
    assert info.value.key == "security.tmk" and reason in info.value.reason


@pytest.mark.parametrize("tmk, reason", BAD_KEYS)
def test_a_site_host_refuses_demo_and_degenerate_keys(tmp_path: Path, tmk: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_host_settings(site_host(tmp_path, tmk))
    assert info.value.key == "kiosks.KIOSK-DEMO-01.tmk" and reason in info.value.reason


def test_a_site_host_refuses_the_demo_issuer_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:         # dlk is the site's own: dpk is still the demo's
        load_host_settings(site_host(tmp_path, OWN, cards=OWN[::-1]))
    assert info.value.key == "card_centre.dpk" and "published" in info.value.reason


def test_demo_keys_only_in_a_demo_config_on_loopback(tmp_path: Path) -> None:
    assert load_kiosk_settings(DEMO_KIOSK_CONFIG).tmk == DEMO_TMK         # `make demo`, `kiosk demo`
    assert load_host_settings(DEMO_HOST_CONFIG).tmk(DEMO_KIOSK) == DEMO_TMK
    demo = "demo = true\n"
    assert load_kiosk_settings(site_kiosk(tmp_path, DEMO_TMK.hex(), head=demo, url="http://127.0.0.1:8700")).tmk
    with pytest.raises(ConfigError) as info:         # the flag does not carry demo keys onto a site's LAN
        load_kiosk_settings(site_kiosk(tmp_path, DEMO_TMK.hex(), head=demo))
    assert info.value.key == "demo" and "loopback" in info.value.reason
    with pytest.raises(ConfigError) as info:
        load_host_settings(site_host(tmp_path, DEMO_TMK.hex(), head=demo))
    assert info.value.key == "demo" and "loopback" in info.value.reason
    with pytest.raises(ConfigError, match="all zero"):   # degenerate keys: not even in the demo
        load_kiosk_settings(site_kiosk(tmp_path, "00" * 16, head=demo, url="http://127.0.0.1:8700"))


def test_the_site_examples_cannot_start_with_their_placeholders() -> None:
    with pytest.raises(ConfigError) as info:
        load_kiosk_settings(CONFIG_DIR / "kiosk.site-example.toml")
    assert info.value.key == "security.tmk" and "placeholder" in info.value.reason
    assert "32 hex digits" in info.value.reason
    with pytest.raises(ConfigError) as info:
        load_host_settings(CONFIG_DIR / "host.site-example.toml")
    assert info.value.key.endswith(".tmk") and "placeholder" in info.value.reason
    assert "7DF0AC87953F75AECD424B5A3BBFF50B" not in (CONFIG_DIR / "host.site-example.toml").read_text("utf-8")
