"""IC wallet money in the console: the card centre's loads, unloads and bill
payments found by the transaction search, in both CSV files, and reconciled per
business day against the bank journal (wallet_* lines) and the property ledger
(`wallet` entries), with each kind of difference detected on books broken on
purpose. The transactions are made as a kiosk makes them: signed card-centre
messages over real HTTP, answered by a virtual CPU card through the kiosk's own
terminal application (no pcscd: the card answers in this thread)."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.support.fleet import SignedKiosk
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from tests.support.console_env import ConsoleHost, building_on
from tests.support.clocks import TODAY
from host.bank.journal import WALLET_LOAD, WALLET_LOAD_REVERSAL, WALLET_UNLOAD
from host.billing import household_bill
from host.console.reconciliation import reconcile
from host.schema.bank import bank_journal, property_backups, property_ledger
from host.schema.cards import card_txns
from common.crypto import pin_block_format0, tdes_encrypt
from kiosk.cards.epurse import EPurse
from common.epurse import Wallet
from kiosk.devices.sim.cpu_card import VirtualCpuCard
from common.demo_cards import DemoCard, DemoIcCard, load_test_cards
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)

_CARDS = load_test_cards()
GOOD = next(c for c in _CARDS.cards if c.pan == "6222021000000000017")     # 622202*********0017
CITIC = next(c for c in _CARDS.cards if c.pan == "6214835000000008")       # 621483******0008
ZHANG = next(c for c in _CARDS.ic_cards if c.serial == "00002601000000000001")
CHEN = next(c for c in _CARDS.ic_cards if c.serial == "00002601000000000005")
TERM_ID = bytes.fromhex("000000000101")
WHEN = datetime(2026, 11, 21, 10, 31, 5)
DAY, YESTERDAY = date(2026, 11, 21), date(2026, 11, 20)


class DirectLink:
    """The virtual card answering APDUs in the calling thread (an ApduTransport)."""

    def __init__(self, card: VirtualCpuCard) -> None:
        self.card = card

    def transmit(self, apdu: bytes) -> bytes:
        return self.card.process(apdu)


def _hex(data: bytes) -> str:
    return data.hex().upper()


@dataclass
class WalletKiosk:
    """A kiosk's card-centre messages (docs/cards.md §5) and backup copies."""
    kiosk: SignedKiosk
    txn_no: int = 0

    def post(self, path: str, fields: dict[str, Any]) -> dict[str, Any]:
        reply = self.kiosk.send(f"/api/v1/cards/{path}", self.kiosk.body(fields), self.kiosk.mak)
        assert reply.status == 200 and reply.mac_ok, reply.body
        return reply.json  # type: ignore[no-any-return]

    def _common(self, txn_id: str, serial: str, amount: int, balance: int, counter: int,
                random: bytes) -> dict[str, Any]:
        return {"txn_id": txn_id, "serial": serial, "amount_fen": amount, "balance_fen": balance,
                "card_counter": counter, "random": _hex(random), "term_id": _hex(TERM_ID),
                "when": f"{WHEN:%Y%m%d%H%M%S}"}

    def load(self, txn_id: str, purse: EPurse, serial: str, amount: int, *, finish: str | None = "confirm",
             bank: DemoCard = GOOD, pin: str | None = None) -> dict[str, Any]:
        """finish: confirm (the card's TAC), cancel, or None (left pending)."""
        assert self.kiosk.pik is not None
        init = purse.init_load(Wallet.EP, amount, TERM_ID)
        block = tdes_encrypt(self.kiosk.pik, pin_block_format0(pin or bank.pin, bank.pan))
        answer = self.post("load/authorise", {
            **self._common(txn_id, serial, amount, init.balance, init.counter, init.random), "wallet": "EP",
            "mac1": _hex(init.mac1), "pan": bank.pan, "track2": bank.track2, "expiry": bank.expiry,
            "pin_block": _hex(block)})
        if answer["result"] == "approved" and finish == "confirm":
            tac = purse.credit_load(WHEN, bytes.fromhex(answer["mac2"]))
            assert self.post("load/confirm", {"txn_id": txn_id, "tac": _hex(tac)})["status"] == "completed"
        elif answer["result"] == "approved" and finish == "cancel":
            assert self.post("load/cancel", {"txn_id": txn_id, "reason": "card removed"})["status"] == "cancelled"
        return answer

    def unload(self, txn_id: str, purse: EPurse, serial: str, amount: int, bank: DemoCard = CITIC) -> None:
        init = purse.init_unload(amount, TERM_ID)
        answer = self.post("unload/authorise", {
            **self._common(txn_id, serial, amount, init.balance, init.counter, init.random),
            "mac1": _hex(init.mac1), "pan": bank.pan, "track2": bank.track2, "expiry": bank.expiry})
        assert answer["result"] == "approved", answer
        mac3 = purse.unload(WHEN, bytes.fromhex(answer["mac2"]))
        assert self.post("unload/confirm", {"txn_id": txn_id, "mac3": _hex(mac3)})["status"] == "completed"

    def purchase(self, txn_id: str, purse: EPurse, serial: str, house: str, amount: int,
                 periods: list[str]) -> str:
        self.txn_no += 1
        init = purse.init_purchase(Wallet.ED, amount, TERM_ID)
        answer = self.post("purchase/authorise", {
            **self._common(txn_id, serial, amount, init.balance, init.counter, init.random), "wallet": "ED",
            "house_no": house, "periods": periods, "term_txn_no": self.txn_no})
        assert answer["result"] == "approved", answer
        tac, mac2 = purse.debit_purchase(self.txn_no, WHEN, bytes.fromhex(answer["mac1"]))
        done = self.post("purchase/confirm", {"txn_id": txn_id, "tac": _hex(tac), "mac2": _hex(mac2)})
        return str(done["reference"])

    def backup(self, txn_id: str, kind: str, result: str, amount: int, serial: str, **extra: Any) -> None:
        """The copy the kiosk's wallet service sends once a transaction is settled."""
        copy = {"txn_id": txn_id, "kind": kind, "amount_fen": amount, "result": result, "wallet": "EP",
                "card": serial, "at": "2026-11-21T10:31:05", **extra}
        assert self.kiosk.backup(copy).status == 200


@dataclass(frozen=True)
class WalletDay:
    host: ConsoleHost
    load: str          # KIOSK-A, ZHANG EP ¥100.00 from GOOD, completed
    reversed: str      # KIOSK-A, ¥50.00, cancelled after the bank's debit (credited back)
    unload: str        # KIOSK-A, ZHANG ED ¥200.00 to CITIC, completed
    purchase: str      # KIOSK-B, CHEN ED, 2-2-902's bill, completed
    pending: str       # KIOSK-B, ZHANG EP ¥20.00, authorised, the card never confirmed
    declined: str      # KIOSK-B, wrong bank PIN
    purchase_fen: int


def _bill(host: ConsoleHost, house: str) -> tuple[int, list[str]]:
    with host.engine.connect() as conn:
        bill = household_bill(conn, house, DAY, host.settings)
    periods = [a["period"] for a in bill["arrears"]]
    if bill["current"] and not bill["current"]["paid"]:
        periods.append(bill["current"]["period"])
    return int(bill["total_due_fen"]), periods


def _purse(demo: DemoIcCard, folder: Path) -> EPurse:
    purse = EPurse(DirectLink(VirtualCpuCard.personalise(demo, folder, issued=TODAY)))
    purse.select()
    purse.verify_pin(demo.pin)          # the passbook (ED) needs it
    return purse


LOAD, REVERSED, UNLOAD, PURCHASE, PENDING, DECLINED = (f"W-{name}" for name in (
    "LOAD-1", "LOAD-2", "UNLOAD-1", "PAY-1", "LOAD-3", "LOAD-4"))


def _wallet_day(host: ConsoleHost, folder: Path) -> int:
    """The template's card payments plus a day of wallet transactions on two
    kiosks, with the kiosks' copies of the settled ones (a kiosk copies no
    decline and nothing still pending: neither is missing its copy); the
    purchase's amount."""
    a, b = WalletKiosk(host.kiosk("KIOSK-A")), WalletKiosk(host.kiosk("KIOSK-B"))
    zhang, chen = _purse(ZHANG, folder), _purse(CHEN, folder)
    ref = a.load(LOAD, zhang, ZHANG.serial, 10_000)["reference"]
    a.backup(LOAD, "wallet_load", "completed", 10_000, ZHANG.serial, masked_pan="622202*********0017", reference=ref)
    ref = a.load(REVERSED, zhang, ZHANG.serial, 5_000, finish="cancel")["reference"]
    a.backup(REVERSED, "wallet_load", "cancelled", 5_000, ZHANG.serial, masked_pan="622202*********0017",
             reference=ref)
    a.unload(UNLOAD, zhang, ZHANG.serial, 20_000)
    a.backup(UNLOAD, "wallet_unload", "completed", 20_000, ZHANG.serial, masked_pan="621483******0008")
    amount, periods = _bill(host, "2-2-902")
    ref = b.purchase(PURCHASE, chen, CHEN.serial, "2-2-902", amount, periods)
    b.backup(PURCHASE, "wallet_purchase", "completed", amount, CHEN.serial, house_no="2-2-902", reference=ref)
    b.load(PENDING, zhang, ZHANG.serial, 2_000, finish=None)
    assert b.load(DECLINED, zhang, ZHANG.serial, 3_000, pin="000000")["code"] == "wrong_pin"
    return amount


@pytest.fixture(scope="session")
def wallet_template(console_builds: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
                    ) -> tuple[tuple[str, Callable[[str], None]], dict[str, int]]:
    """The wallet day as a template on the console's (built once per backend, then
    copied per test as the console's is: ~0.2 s a test, not the ~2 s of the day's
    17 signed requests): (key, build) for start_console_host, and the purchase's amount."""
    made: dict[str, int] = {}

    def build(url: str) -> None:
        with building_on(url, TODAY, console_builds["payments"]) as host:
            made["purchase_fen"] = _wallet_day(host, tmp_path_factory.mktemp("wallet-cards"))
    return ("console_wallet", build), made


@pytest.fixture
def wallet_day(start_console_host: Callable[..., ConsoleHost],
               wallet_template: tuple[tuple[str, Callable[[str], None]], dict[str, int]]) -> WalletDay:
    template, made = wallet_template
    host = start_console_host(template=template)
    return WalletDay(host, LOAD, REVERSED, UNLOAD, PURCHASE, PENDING, DECLINED, made["purchase_fen"])


def _untranslated(page: str) -> list[str]:
    """Catalogue keys that reached the page as they are (a key missing in host/console/i18n.py)."""
    return re.findall(r"\b(?:txn|rec)\.[a-z_]+(?:\.[a-z_]+)*\b", page)


def _csv_rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


# --- search ------------------------------------------------------------------------
def test_search_finds_wallet_transactions_by_house_kiosk_status_and_card(wallet_day: WalletDay) -> None:
    w, p = wallet_day, wallet_day.host.payments
    client = w.host.staff("look")

    def found(**params: str) -> set[str]:
        page = client.get("/console/transactions", params=params).text
        every = (w.load, w.reversed, w.unload, w.purchase, w.pending, w.declined, p.approved, p.declined, p.reversed)
        return {txn_id for txn_id in every if txn_id in page}

    everything = client.get("/console/transactions").text
    for label in ("圈存", "圈提", "钱包缴费", "待卡片确认", "****0001", "****0005", "621483******0008"):
        assert label in everything, label
    assert ZHANG.serial not in everything and CHEN.serial not in everything     # the IC card shows masked
    assert 'id="totals-card_payment"' in everything and 'id="totals-wallet_load"' in everything

    assert found(house="2-2-902") == {w.purchase, p.declined}
    assert found(kiosk="KIOSK-A") == {w.load, w.reversed, w.unload}
    assert found(kiosk="KIOSK-B") == {w.purchase, w.pending, w.declined}
    assert found(status="approved") == {w.load, w.unload, w.purchase, p.approved}
    assert found(status="reversed") == {w.reversed, p.reversed}
    assert found(status="pending") == {w.pending}
    assert found(status="declined") == {w.declined, p.declined}
    assert "wrong_pin" in client.get("/console/transactions", params={"status": "declined"}).text
    assert found(status="voided") == set()
    assert found(card="0008") == {w.unload}                                 # the bank card an unload credited
    assert found(card="6214835000000008") == {w.unload}                     # a full number is masked first
    assert found(card="622202") == {w.load, w.reversed, w.pending, w.declined, p.approved, p.reversed}
    assert found(card="0005") == {w.purchase}                               # the IC card's last 4
    assert found(kiosk="KIOSK-A", status="approved", card="0017") == {w.load}
    assert found(**{"from": "2026-11-22", "to": "2026-11-22"}) == set()
    assert _untranslated(everything) == []
    client.get("/console/lang/en")
    english = client.get("/console/transactions").text
    assert "Wallet load" in english and "Pending, awaiting the card" in english and _untranslated(english) == []


def test_the_kiosk_page_lists_its_wallet_transactions(wallet_day: WalletDay) -> None:
    page = wallet_day.host.staff("look").get("/console/kiosks/KIOSK-B").text
    assert wallet_day.purchase in page and wallet_day.pending in page and "钱包缴费" in page
    assert wallet_day.load not in page


# --- CSV ---------------------------------------------------------------------------
def test_transactions_csv_has_the_wallet_rows(wallet_day: WalletDay) -> None:
    w = wallet_day
    text = w.host.staff("look").get("/console/transactions.csv", params={"from": "2026-11-21",
                                                                          "to": "2026-11-21"}).content.decode()
    rows = {r["txn_id"]: r for r in _csv_rows(text)}
    assert len(rows) == 9                                      # 3 card payments + 6 wallet transactions
    expected = {   # kind, status, house, masked bank card, IC card, amount
        w.load: ("wallet_load", "approved", "", "622202*********0017", "****0001", "10000"),
        w.reversed: ("wallet_load", "reversed", "", "622202*********0017", "****0001", "5000"),
        w.unload: ("wallet_unload", "approved", "", "621483******0008", "****0001", "20000"),
        w.purchase: ("wallet_purchase", "approved", "2-2-902", "", "****0005", str(w.purchase_fen)),
        w.pending: ("wallet_load", "pending", "", "622202*********0017", "****0001", "2000"),
        w.declined: ("wallet_load", "declined", "", "622202*********0017", "****0001", "3000"),
    }
    for txn_id, want in expected.items():
        r = rows[txn_id]
        assert (r["kind"], r["status"], r["house_no"], r["masked_pan"], r["ic_card"], r["amount_fen"]) == want, txn_id
        assert r["source"] == "cards" and r["business_day"] == "2026-11-21"
    assert rows[w.declined]["code"] == "wrong_pin" and rows[w.reversed]["code"] == "card removed"
    assert rows[w.load]["reference"].startswith("W261121") and rows[w.load]["amount_yuan"] == "100.00"
    assert rows[w.host.payments.approved]["kind"] == "card_payment" and rows[w.host.payments.approved]["ic_card"] == ""
    for secret in (GOOD.pan, CITIC.pan, ZHANG.serial, CHEN.serial):
        assert secret not in text


def test_day_totals_keep_each_kind_of_money_apart(wallet_day: WalletDay) -> None:
    w, p = wallet_day, wallet_day.host.payments
    text = w.host.staff("look").get("/console/day-totals.csv", params={"day": "2026-11-21"}).content.decode()
    lines = _csv_rows(text)
    by = {(r["kiosk_id"], r["kind"]): r for r in lines}
    assert [(r["kiosk_id"], r["kind"]) for r in lines] == [
        ("KIOSK-A", "wallet_load"), ("KIOSK-A", "wallet_unload"),
        ("KIOSK-B", "wallet_purchase"), ("KIOSK-B", "wallet_load"),
        ("KIOSK-DEMO-01", "card_payment"),
        ("TOTAL", "card_payment"), ("TOTAL", "wallet_purchase"), ("TOTAL", "wallet_load"), ("TOTAL", "wallet_unload")]

    def figures(key: tuple[str, str]) -> tuple[str, ...]:
        r = by[key]
        return (r["approved_count"], r["approved_fen"], r["declined_count"], r["reversed_count"], r["reversed_fen"],
                r["voided_count"], r["pending_count"], r["pending_fen"], r["net_fen"])

    assert figures(("KIOSK-A", "wallet_load")) == ("1", "10000", "0", "1", "5000", "0", "0", "0", "10000")
    assert figures(("KIOSK-A", "wallet_unload")) == ("1", "20000", "0", "0", "0", "0", "0", "0", "20000")
    assert figures(("KIOSK-B", "wallet_load")) == ("0", "0", "1", "0", "0", "0", "1", "2000", "0")
    purchase = str(w.purchase_fen)
    assert figures(("KIOSK-B", "wallet_purchase")) == ("1", purchase, "0", "0", "0", "0", "0", "0", purchase)
    # bank-card takings are exactly the card payments: no wallet money in them
    assert by[("TOTAL", "card_payment")]["net_fen"] == by[("KIOSK-DEMO-01", "card_payment")]["net_fen"] == \
        str(p.approved_fen)
    assert figures(("TOTAL", "wallet_load")) == ("1", "10000", "1", "1", "5000", "0", "1", "2000", "10000")
    assert by[("TOTAL", "wallet_purchase")]["net_yuan"] == f"{w.purchase_fen // 100}.{w.purchase_fen % 100:02d}"

    quiet = w.host.staff("look").get("/console/day-totals.csv", params={"day": "2026-11-20"}).content.decode()
    assert [(r["kiosk_id"], r["kind"], r["net_fen"]) for r in _csv_rows(quiet)] == [("TOTAL", "card_payment", "0")]


# --- reconciliation ----------------------------------------------------------------
def test_a_consistent_day_reconciles_with_the_pending_load_awaiting_its_card(wallet_day: WalletDay) -> None:
    w = wallet_day
    result = reconcile(w.host.engine, DAY, DAY)
    assert result.differences == [] and result.wallet.differences == [] and result.balanced
    assert [(x.txn_id, x.kind, x.amount_fen, x.ic_card) for x in result.wallet.pending] == \
        [(w.pending, "wallet_load", 2_000, "****0001")]
    bank, ledger, cards = result.wallet.bank, result.wallet.ledger, result.wallet.cards
    # bank journal: debited 100 + 50 + 20 (pending), gave 50 back, credited the unload; and the declined line
    assert (bank.count, bank.loads_fen, bank.reversals_fen, bank.unloads_fen) == (6, 17_000, 5_000, 20_000)
    assert (ledger.count, ledger.purchases_fen) == (1, w.purchase_fen)
    assert (cards.count, cards.loads_fen, cards.reversals_fen, cards.unloads_fen, cards.purchases_fen,
            cards.pending_fen) == (6, 10_000, 5_000, 20_000, w.purchase_fen, 2_000)
    assert result.backups.count == 3                       # the wallet copies are not the bank card payments'

    page = w.host.staff("look").get("/console/reconciliation", params={"day": "2026-11-21"}).text
    assert "钱包交易的银行流水、物业台账与卡务中心记录完全一致" in page and 'id="wallet-differences"' not in page
    assert 'id="wallet-pending"' in page and w.pending in page and "待卡片确认" in page
    assert "银行流水、物业台账与设备备份完全一致" in page and "¥170.00" in page and _untranslated(page) == []


def _delete_line(conn: Connection, txn_id: str, type_: str) -> None:
    assert conn.execute(delete(bank_journal).where(bank_journal.c.txn_id == txn_id,
                                                   bank_journal.c.type == type_)).rowcount == 1


def _cancel_purchase_but_keep_ledger(w: WalletDay, conn: Connection) -> None:
    conn.execute(update(card_txns).where(card_txns.c.txn_id == w.purchase).values(state="cancelled"))
    conn.execute(update(property_backups).where(property_backups.c.txn_id == w.purchase).values(result="cancelled"))


def _ghost_load(w: WalletDay, conn: Connection) -> None:
    conn.execute(insert(bank_journal).values(business_day=DAY, at=WHEN, kiosk_id="KIOSK-A", txn_id="W-GHOST",
                                             type=WALLET_LOAD, result="approved", masked_pan="622202*********0017",
                                             amount_fen=777, reference="W26112199999"))


def _pending_from_yesterday(w: WalletDay, conn: Connection) -> None:
    conn.execute(update(card_txns).where(card_txns.c.txn_id == w.pending).values(business_day=YESTERDAY))
    conn.execute(update(bank_journal).where(bank_journal.c.txn_id == w.pending).values(business_day=YESTERDAY))


# (why, the tampering, the day reconciled, what must be found: (difference, which transaction))
TAMPERING: list[tuple[str, Callable[[WalletDay, Connection], None], date, tuple[str, str]]] = [
    ("a load the bank debited, cancelled without the reversal",
     lambda w, c: _delete_line(c, w.reversed, WALLET_LOAD_REVERSAL), DAY, ("bank_without_card", "reversed")),
    ("an unload the card paid out, never credited by the bank",
     lambda w, c: _delete_line(c, w.unload, WALLET_UNLOAD), DAY, ("missing_in_bank", "unload")),
    ("a wallet bill payment missing in the ledger",
     lambda w, c: c.execute(delete(property_ledger).where(property_ledger.c.txn_id == w.purchase)), DAY,
     ("missing_in_ledger", "purchase")),
    ("the ledger credited for a purchase the card centre cancelled",
     _cancel_purchase_but_keep_ledger, DAY, ("ledger_without_card", "purchase")),
    ("the bank debited another amount than the card was loaded with",
     lambda w, c: c.execute(update(bank_journal).where(bank_journal.c.txn_id == w.load)
                            .values(amount_fen=bank_journal.c.amount_fen - 1)), DAY, ("amount_differs", "load")),
    ("the ledger's reference is not the card centre's",
     lambda w, c: c.execute(update(property_ledger).where(property_ledger.c.txn_id == w.purchase)
                            .values(reference="W26112188888")), DAY, ("reference_differs", "purchase")),
    ("money in the bank journal for a transaction the card centre never had",
     _ghost_load, DAY, ("unknown_to_card_centre", "W-GHOST")),
    ("the kiosk's copy says cancelled, the card centre completed it",
     lambda w, c: c.execute(update(property_backups).where(property_backups.c.txn_id == w.unload)
                            .values(result="cancelled")), DAY, ("backup_differs", "unload")),
    ("a settled unload whose kiosk copy has not arrived",
     lambda w, c: c.execute(delete(property_backups).where(property_backups.c.txn_id == w.unload)), DAY,
     ("backup_missing", "unload")),
    ("a load still pending after its day",
     _pending_from_yesterday, YESTERDAY, ("pending_overdue", "pending")),
]


@pytest.mark.parametrize(("why", "tamper", "day", "finding"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_reconciliation_detects_each_wallet_difference(wallet_day: WalletDay, why: str,
                                                       tamper: Callable[[WalletDay, Connection], None], day: date,
                                                       finding: tuple[str, str]) -> None:
    w = wallet_day
    kind, which = finding
    txn_id = getattr(w, which, which)
    with w.host.engine.begin() as conn:
        tamper(w, conn)
    result = reconcile(w.host.engine, day, DAY)
    assert [(d.kind, d.txn_id) for d in result.wallet.differences] == [(kind, txn_id)], why
    assert result.differences == [] and not result.balanced

    page = w.host.staff("look").get("/console/reconciliation", params={"day": day.isoformat()}).text
    assert f'class="diff-{kind}"' in page and txn_id in page and "1 处差异" in page and _untranslated(page) == []


def test_a_missing_wallet_copy_is_a_difference_until_it_arrives(wallet_day: WalletDay) -> None:
    w = wallet_day
    with w.host.engine.begin() as conn:       # kiosk B's copy of its purchase is still in its backlog
        conn.execute(delete(property_backups).where(property_backups.c.txn_id == w.purchase))
    (diff,) = reconcile(w.host.engine, DAY, DAY).wallet.differences
    assert (diff.kind, diff.txn_id, diff.kiosk_id, diff.card_kind, diff.card_state, diff.backup, diff.detail) == \
        ("backup_missing", w.purchase, "KIOSK-B", "wallet_purchase", "completed", "", "backlog")
    assert (diff.bank_fen, diff.ledger_fen) == (None, w.purchase_fen)      # the money itself agrees
    page = w.host.staff("look").get("/console/reconciliation", params={"day": "2026-11-21"}).text
    assert 'class="diff-backup_missing"' in page and "设备备份未到" in page and _untranslated(page) == []

    with w.host.engine.connect() as conn:
        ref = conn.execute(select(property_ledger.c.reference)
                           .where(property_ledger.c.txn_id == w.purchase)).scalar_one()
    WalletKiosk(w.host.kiosk("KIOSK-B")).backup(w.purchase, "wallet_purchase", "completed", w.purchase_fen,
                                                 CHEN.serial, house_no="2-2-902", reference=ref)
    result = reconcile(w.host.engine, DAY, DAY)
    assert result.wallet.differences == [] and result.balanced


def test_difference_details_say_what_the_card_centre_expected(wallet_day: WalletDay) -> None:
    w = wallet_day
    with w.host.engine.begin() as conn:
        _delete_line(conn, w.reversed, WALLET_LOAD_REVERSAL)
        _pending_from_yesterday(w, conn)
    (diff,) = reconcile(w.host.engine, DAY, DAY).wallet.differences
    # the resident's bank card is still debited ¥50.00 for a load the card never received
    assert (diff.card_kind, diff.card_state, diff.bank_fen, diff.expected_fen, diff.backup) == \
        ("wallet_load", "cancelled", -5_000, 0, "cancelled")
    assert reconcile(w.host.engine, DAY, DAY).wallet.pending == []        # yesterday's is no longer today's
    page = w.host.staff("look").get("/console/reconciliation", params={"day": "2026-11-20"}).text
    assert "2026-11-20 起仍在等待卡片" in page
    days = w.host.staff("look").get("/console/reconciliation").text      # the last 14 days, today first
    assert days.count("1 处差异") >= 2                                   # today's and yesterday's
