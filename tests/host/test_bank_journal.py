"""The kiosks' backup copies, the bank journal's CSV export (HTTP and CLI) and
the money totals helper."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from host import cli
from host.bank.backups import looks_like_pan
from host.schema.bank import property_backups
from tests.support.host_env import BankEnv, EXPIRED, GOOD
from common.bank_card import mask_pan

from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL


def _copy(txn_id: str, **extra: object) -> dict[str, object]:
    return {"txn_id": txn_id, "house_no": "3-2-1202", "amount_fen": 126931, "masked_pan": mask_pan(GOOD.pan),
            "result": "approved", "reference": "261121000001", "auth_code": "123456",
            "at": "2026-11-21T10:31:07", **extra}


def test_backup_copy_is_stored_once(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    reply = kiosk.backup(_copy("T-1"))
    assert reply.status == 200 and reply.mac_ok and reply.json == {"stored": True}
    again = kiosk.backup(_copy("T-1", result="reversed"))          # idempotent on txn.txn_id
    assert again.status == 200 and again.json == {"stored": True}
    with bank.engine.connect() as conn:
        rows = conn.execute(select(property_backups)).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.txn_id, row.kiosk_id, row.house_no, row.amount_fen, row.masked_pan, row.result, row.reference) == \
        ("T-1", "KIOSK-TEST-01", "3-2-1202", 126931, "622202*********0017", "approved", "261121000001")


@pytest.mark.parametrize("txn", [
    _copy("T-2", masked_pan=GOOD.pan),                                   # the full PAN instead of the mask
    _copy("T-3", note=f"card {GOOD.pan} swiped"),                        # anywhere in the copy
    _copy("T-4", track=f";{EXPIRED.pan}=23121010000?"),
    _copy("T-5", digits=int(GOOD.pan)),                                  # as a number
    _copy("T-6", nested={"deep": ["x", f"00{GOOD.pan}"]}),               # inside a longer run of digits
])
def test_backup_with_a_full_pan_is_refused(bank: BankEnv, txn: dict[str, object]) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    before = bank.dump()
    reply = kiosk.backup(txn)
    assert reply.status == 400 and reply.mac_ok and reply.json["error"] == "bad_request"
    assert "card number" in reply.json["message"]
    assert bank.dump() == before


def test_what_looks_like_a_pan() -> None:
    assert looks_like_pan(GOOD.pan) and looks_like_pan("x4111111111111111y")
    assert not looks_like_pan("4111111111111112")                         # Luhn fails
    assert not looks_like_pan("622202*********0017") and not looks_like_pan("261121000001")
    assert not looks_like_pan("KIOSK-DEMO-01-20261121-000042") and not looks_like_pan("2026-11-21T10:31:05")
    # compact time stamps in txn ids: 10 % of them pass Luhn, none is a PAN (no PAN begins with 20)
    assert not looks_like_pan("KIOSK-DEMO-01-20261121105310-8C6EDC") and not looks_like_pan("20261121105310102")
    assert looks_like_pan("5221000000000002") and looks_like_pan("2221000000000009")   # Mastercard 5- and 2-series


def _viewer(bank: BankEnv) -> httpx.Client:
    """A staff member of the viewer role, signed in through the console's form: the
    bank journal is staff data (docs/payments.md), no longer on the kiosk API."""
    import re

    from host.console.accounts import Accounts
    from host.console.passwords import Cost

    Accounts(bank.engine, bank.settings.console, cost=Cost(n=2 ** 10, r=8, p=1)).add(
        "look", "look-pass-123", "viewer", by="test")
    client = httpx.Client(base_url=bank.url, timeout=10)
    page = client.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    signed_in = client.post("/console/login", data={"login_token": token, "username": "look",
                                                    "password": "look-pass-123", "next": "/console/"})
    assert signed_in.status_code == 303
    return client


def _journal(staff: httpx.Client, day: str) -> httpx.Response:
    return staff.get("/console/bank-journal.csv", params={"day": day})


def test_journal_csv_has_the_days_lines_with_masked_pans(bank: BankEnv, host_toml: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The bank's day: the link journal's lines as the front-end wrote them (an
    approved purchase, a declined one, one reversed), masked PANs only."""
    from datetime import date, datetime

    from sqlalchemy import insert

    from host.schema.bank import bank_link_journal, bank_link_sessions
    day, at = date(2026, 11, 21), datetime(2026, 11, 21, 10, 31, 5)
    line = {"terminal_id": "KIOSK001", "batch": "000001", "kind": "purchase", "account_id": None,
            "business_day": day, "created_at": at, "bill_ref": "H=3-2-1202;P=2026-10", "auth_code": None,
            "reversed_at": None, "reversal_code": None}
    with bank.engine.begin() as conn:
        conn.execute(insert(bank_link_sessions).values(terminal_id="KIOSK001", kiosk_id="KIOSK-TEST-01",
                                                       batch="000001", key_version=1))
        conn.execute(insert(bank_link_journal), [
            {**line, "stan": "000002", "state": "approved", "code": "00", "masked_pan": mask_pan(GOOD.pan),
             "amount_fen": 126931, "rrn": "261121000001", "auth_code": "123456"},
            {**line, "stan": "000003", "state": "declined", "code": "54", "masked_pan": mask_pan(EXPIRED.pan),
             "amount_fen": 47853, "rrn": "261121000002"},
            {**line, "stan": "000004", "state": "reversed", "code": "00", "masked_pan": mask_pan(GOOD.pan),
             "amount_fen": 100, "rrn": "261121000003", "reversed_at": at, "reversal_code": "98"}])

    assert httpx.get(f"{bank.url}/api/v1/bank/journal", params={"day": "2026-11-21"}).status_code == 404
    staff = _viewer(bank)
    response = _journal(staff, "2026-11-21")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["line"], r["stan"], r["type"], r["result"], r["code"], r["amount_fen"], r["reversal_code"])
            for r in rows] == [("1", "000002", "purchase", "approved", "00", "126931", ""),
                               ("2", "000003", "purchase", "declined", "54", "47853", ""),
                               ("3", "000004", "purchase", "reversed", "00", "100", "98")]
    assert rows[0]["reference"] == "261121000001" and rows[0]["auth_code"] == "123456"
    assert {r["masked_pan"] for r in rows} == {mask_pan(GOOD.pan), mask_pan(EXPIRED.pan)}
    assert GOOD.pan not in response.text and EXPIRED.pan not in response.text
    assert all(r["business_day"] == "2026-11-21" and r["kiosk_id"] == "KIOSK-TEST-01" for r in rows)

    assert _journal(staff, "2026-11-20").text.count("\n") == 1                   # the header only
    assert _journal(staff, "2026-13-01").status_code == 400
    assert _journal(staff, "yesterday").status_code == 400
    staff.close()

    db = bank.engine.url.render_as_string(hide_password=False)      # --db takes a URL
    assert cli.export_journal(host_toml, "2026-11-21", db) == 0
    assert capsys.readouterr().out == response.text
    assert cli.export_journal(host_toml, "21/11/2026", db) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_an_ic_wallet_copy_keeps_its_registered_card_serial(bank: BankEnv) -> None:
    """A 20-digit IC card serial often has a Luhn-valid 13-19 digit window, so it is
    let through only when the card centre issued it; anything else is still searched."""
    from host.schema.cards import ic_cards

    serial = "00002601000000000003"                       # 王芳's card in the seeded registry
    assert looks_like_pan(serial)
    with bank.engine.connect() as conn:
        assert conn.execute(select(ic_cards.c.holder).where(ic_cards.c.serial == serial)).scalar() == "王芳"
    kiosk = bank.kiosk
    kiosk.sign_on()
    assert kiosk.backup(_copy("W-1", kind="wallet_load", card=serial, wallet="EP")).status == 200
    unknown = kiosk.backup(_copy("W-2", kind="wallet_load", card="00002601000000000011", wallet="EP"))
    assert looks_like_pan("00002601000000000011") and unknown.status == 400
    smuggled = kiosk.backup(_copy("W-3", card=serial, note=f"card {GOOD.pan}"))   # only the serial is spared
    assert smuggled.status == 400 and "card number" in smuggled.json["message"]
