"""Transaction search across the host's sources, day totals, CSV exports.

A source turns a query into rows of one shape (TxnRow). There are two: bank
card bill payments (bank_link_journal, the bank's own record) and IC wallet loads,
unloads and bill payments (card_txns, the card centre's record). Only masked
card numbers (first 6 / last 4) and the IC card's last 4 are ever shown."""
from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.engine import Connection, Engine

from host import csv_cells
from host.schema.bank import bank_link_journal, bank_link_sessions, property_backups
from host.schema.cards import card_txns
from host.schema.estate import households
from common.bank_card import luhn_ok, mask_pan

# pending: a wallet transaction authorised and awaiting the card's proof (bank payments never are)
STATUSES = ("approved", "declined", "reversed", "voided", "pending")
# the kinds of money, in the order totals list them: bill payments (by bank card, from
# the wallet) are the property's takings; loads / unloads move a resident's own money
# between their bank card and their IC card
KINDS = ("card_payment", "wallet_purchase", "wallet_load", "wallet_unload")
WALLET_KIND = {"load": "wallet_load", "unload": "wallet_unload", "purchase": "wallet_purchase"}
MAX_ROWS = 500


@dataclass(frozen=True, slots=True)
class TxnQuery:
    day_from: date | None = None
    day_to: date | None = None
    house_no: str = ""
    card: str = ""
    kiosk_id: str = ""
    status: str = ""
    limit: int = MAX_ROWS


@dataclass(frozen=True, slots=True)
class TxnRow:
    source: str
    at: datetime
    business_day: date
    kiosk_id: str
    txn_id: str
    kind: str             # one of KINDS
    house_no: str
    masked_pan: str       # the bank card, if any
    amount_fen: int
    status: str           # approved | declined | reversed | voided | pending
    code: str             # decline code (a wallet cancel: its reason)
    reference: str
    ic_card: str = ""     # the IC wallet card, masked (mask_serial)


class TransactionSource(Protocol):
    name: str

    def search(self, conn: Connection, query: TxnQuery) -> list[TxnRow]: ...


_DIGITS = re.compile(r"^\d+$")


def card_filter(text: str) -> tuple[str, str] | None:
    """What staff typed about a card -> (operator, value) on the masked PAN:
    a full number is masked first (and never kept); 4 digits are the last
    four, 6 the first six; a masked number matches on its visible digits,
    however many stars were typed."""
    text = text.strip().replace(" ", "")
    if not text:
        return None
    if _DIGITS.match(text) and 13 <= len(text) <= 19 and luhn_ok(text):
        text = mask_pan(text)
    if "*" in text:
        return "masked", text
    if _DIGITS.match(text) and len(text) == 4:
        return "suffix", text
    if _DIGITS.match(text) and len(text) == 6:
        return "prefix", text
    return "contains", text


def mask_serial(serial: str | None) -> str:
    """An IC card's application serial as staff see it: its last 4 digits."""
    return f"****{serial[-4:]}" if serial else ""


def card_condition(column: ColumnElement[str], text: str) -> ColumnElement[bool] | None:
    """The masked-PAN condition for what staff typed about a card (card_filter)."""
    card = card_filter(text)
    if card is None:
        return None
    op, value = card
    if op == "masked":
        head, tail = value.split("*", 1)[0], value.rsplit("*", 1)[1]
        return and_(column.startswith(head, autoescape=True), column.endswith(tail, autoescape=True),
                    column.contains("*"))
    return {"suffix": column.endswith(value, autoescape=True),
            "prefix": column.startswith(value, autoescape=True),
            "contains": column.contains(value, autoescape=True)}[op]


def _where_day_kiosk_house(stmt: Any, t: Any, query: TxnQuery) -> Any:
    """The filters both sources share (their tables have business_day and kiosk_id, joined to households)."""
    if query.day_from:
        stmt = stmt.where(t.business_day >= query.day_from)
    if query.day_to:
        stmt = stmt.where(t.business_day <= query.day_to)
    if query.kiosk_id:
        stmt = stmt.where(t.kiosk_id == query.kiosk_id)
    if query.house_no:
        stmt = stmt.where(households.c.house_no == query.house_no.strip())
    return stmt


# §5 response codes as the console names a decline (the kiosk's decline table's names)
_DECLINES = {"14": "unknown_card", "51": "insufficient_funds", "54": "expired_card", "55": "wrong_pin",
             "61": "daily_limit", "62": "card_blocked", "75": "pin_locked"}


class CardPayments:
    """Bank card bill payments: the bank's record (the link's journal, which
    prevails), its kiosk by the terminal, the household by its bill reference
    (63), and the kiosk's own id for it when its approved copy names the RRN;
    otherwise the bank's key, terminal/batch/STAN."""

    name = "bank"

    def search(self, conn: Connection, query: TxnQuery) -> list[TxnRow]:
        t, s, b = bank_link_journal.c, bank_link_sessions.c, property_backups.c
        stmt = (select(t.terminal_id, t.batch, t.stan, t.state, t.code, t.masked_pan, t.amount_fen, t.rrn,
                       t.bill_ref, t.business_day, t.created_at, s.kiosk_id, b.txn_id)
                .select_from(bank_link_journal
                             .outerjoin(bank_link_sessions, s.terminal_id == t.terminal_id)
                             .outerjoin(property_backups, (b.reference == t.rrn) & (t.state == "approved")))
                .where(t.kind == "purchase"))
        if query.day_from:
            stmt = stmt.where(t.business_day >= query.day_from)
        if query.day_to:
            stmt = stmt.where(t.business_day <= query.day_to)
        if query.kiosk_id:
            stmt = stmt.where(s.kiosk_id == query.kiosk_id)
        if query.house_no:
            stmt = stmt.where(t.bill_ref.startswith(f"H={query.house_no.strip()};", autoescape=True))
        card = card_condition(t.masked_pan, query.card)
        if card is not None:
            stmt = stmt.where(card)
        if query.status == "pending":       # a bank payment is decided at once
            return []
        if query.status in ("approved", "declined"):
            stmt = stmt.where(t.state == query.status)
        elif query.status == "reversed":    # approved, then reversed
            stmt = stmt.where(t.state == "reversed", t.code == "00")
        elif query.status == "voided":      # a reversal of nothing that moved money
            stmt = stmt.where(t.state == "reversed", t.code != "00")
        stmt = stmt.order_by(t.created_at.desc(), t.id.desc()).limit(query.limit + 1)
        rows = []
        for r in conn.execute(stmt):
            status = r.state if r.state != "reversed" else ("reversed" if r.code == "00" else "voided")
            code = _DECLINES.get(r.code, f"bank_{r.code}") if r.state == "declined" else ""
            house = (r.bill_ref or "").split(";", 1)[0].removeprefix("H=")
            txn_id = r.txn_id or f"{r.terminal_id.strip()}/{r.batch}/{r.stan}"
            rows.append(TxnRow(self.name, r.created_at, r.business_day, r.kiosk_id or "", txn_id, "card_payment",
                               house, r.masked_pan or "", r.amount_fen, status, code,
                               (r.rrn or "").strip() if r.code == "00" else ""))
        return rows


class WalletTxns:
    """IC wallet loads, unloads and bill payments: the card centre's record
    (card_txns), with the bank card of a load / unload and the household of a
    payment. Statuses: completed -> approved; a cancelled load that the bank had
    debited -> reversed (it was credited back); any other cancel (nothing had
    moved yet, or a cancel for a txn_id never seen) -> voided; authorised ->
    pending (awaiting the card's proof)."""

    name = "cards"

    def search(self, conn: Connection, query: TxnQuery) -> list[TxnRow]:
        t = card_txns.c
        stmt = (select(t.txn_id, t.kiosk_id, t.serial, t.kind, t.state, t.code, t.masked_pan, t.amount_fen,
                       t.reference, t.business_day, t.created_at, households.c.house_no)
                .select_from(card_txns.outerjoin(households, households.c.id == t.household_id)))
        stmt = _where_day_kiosk_house(stmt, t, query)
        card = card_condition(t.masked_pan, query.card)
        if card is not None:
            found = card_filter(query.card)
            if found is not None and found[0] == "suffix":   # 4 digits: the IC card's last 4 as well
                card = or_(card, t.serial.endswith(found[1], autoescape=True))
            stmt = stmt.where(card)
        reversed_ = and_(t.state == "cancelled", t.kind == "load", t.reference.is_not(None))
        by_status = {"approved": t.state == "completed", "declined": t.state == "declined", "reversed": reversed_,
                     "voided": and_(t.state == "cancelled", ~reversed_), "pending": t.state == "authorised"}
        if query.status in by_status:
            stmt = stmt.where(by_status[query.status])
        stmt = stmt.order_by(t.created_at.desc(), t.id.desc()).limit(query.limit + 1)
        rows = []
        for r in conn.execute(stmt):
            status = {"completed": "approved", "declined": "declined", "authorised": "pending"}.get(r.state)
            if status is None:   # cancelled
                status = "reversed" if r.kind == "load" and r.reference else "voided"
            rows.append(TxnRow(self.name, r.created_at, r.business_day, r.kiosk_id, r.txn_id, WALLET_KIND[r.kind],
                               r.house_no or "", r.masked_pan or "", r.amount_fen or 0, status, r.code or "",
                               r.reference or "", mask_serial(r.serial)))
        return rows


SOURCES: tuple[TransactionSource, ...] = (CardPayments(), WalletTxns())


def search(engine: Engine, query: TxnQuery, sources: Sequence[TransactionSource] = SOURCES
           ) -> tuple[list[TxnRow], bool]:
    """(rows newest first, truncated)."""
    with engine.connect() as conn:
        rows = [row for source in sources for row in source.search(conn, query)]
    rows.sort(key=lambda r: (r.at, r.txn_id), reverse=True)
    return rows[:query.limit], len(rows) > query.limit


@dataclass
class KioskDayTotal:
    """One kind of money at one kiosk (or TOTAL): kinds are never added together,
    so wallet loads never pass for bill takings."""
    kiosk_id: str
    kind: str = "card_payment"
    approved_count: int = 0
    approved_fen: int = 0
    declined_count: int = 0
    reversed_count: int = 0
    reversed_fen: int = 0
    voided_count: int = 0
    pending_count: int = 0
    pending_fen: int = 0

    @property
    def count(self) -> int:
        return self.approved_count + self.declined_count + self.reversed_count + self.voided_count + \
            self.pending_count

    def add(self, row: TxnRow) -> None:
        if row.status == "approved":
            self.approved_count += 1
            self.approved_fen += row.amount_fen
        elif row.status == "declined":
            self.declined_count += 1
        elif row.status == "reversed":
            self.reversed_count += 1
            self.reversed_fen += row.amount_fen
        elif row.status == "pending":
            self.pending_count += 1
            self.pending_fen += row.amount_fen
        else:
            self.voided_count += 1


def _kind_order(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def totals(rows: list[TxnRow]) -> tuple[list[KioskDayTotal], list[KioskDayTotal]]:
    """(one line per kiosk and kind that had any transaction, one TOTAL line per
    such kind in KINDS order). Bank-card takings always have their TOTAL line, so
    a day of card payments only reads as it did before wallets were added."""
    by_kiosk: dict[tuple[str, str], KioskDayTotal] = {}
    overall = {"card_payment": KioskDayTotal("TOTAL", "card_payment")}
    for row in rows:
        by_kiosk.setdefault((row.kiosk_id, row.kind), KioskDayTotal(row.kiosk_id, row.kind)).add(row)
        overall.setdefault(row.kind, KioskDayTotal("TOTAL", row.kind)).add(row)
    per_kiosk = [by_kiosk[k] for k in sorted(by_kiosk, key=lambda k: (k[0], _kind_order(k[1])))]
    return per_kiosk, sorted(overall.values(), key=lambda total: _kind_order(total.kind))


def day_totals(engine: Engine, day: date, sources: Sequence[TransactionSource] = SOURCES
               ) -> tuple[list[KioskDayTotal], list[KioskDayTotal]]:
    with engine.connect() as conn:
        rows = [r for s in sources for r in s.search(conn, TxnQuery(day_from=day, day_to=day, limit=10 ** 9))]
    return totals(rows)


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _csv(rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    out.write("\ufeff")     # a BOM: Excel, which the office opens these in, then reads UTF-8 Chinese right
    writer = csv_cells.writer(out, lineterminator="\r\n")   # formula-looking text cells quoted
    writer.writerows(rows)
    return out.getvalue()


TXN_CSV_COLUMNS = ("at", "business_day", "kiosk_id", "txn_id", "kind", "house_no", "masked_pan", "ic_card",
                   "amount_fen", "amount_yuan", "status", "code", "reference", "source")
TOTALS_CSV_COLUMNS = ("business_day", "kiosk_id", "kind", "approved_count", "approved_fen", "approved_yuan",
                      "declined_count", "reversed_count", "reversed_fen", "voided_count", "pending_count",
                      "pending_fen", "net_fen", "net_yuan")


def rows_csv(rows: list[TxnRow]) -> str:
    return _csv([list(TXN_CSV_COLUMNS)] + [
        [r.at.isoformat(timespec="seconds"), r.business_day.isoformat(), r.kiosk_id, r.txn_id, r.kind, r.house_no,
         r.masked_pan, r.ic_card, r.amount_fen, _yuan(r.amount_fen), r.status, r.code, r.reference, r.source]
        for r in rows])


def totals_csv(day: date, per_kiosk: list[KioskDayTotal], overall: list[KioskDayTotal]) -> str:
    """One line per kiosk and kind, then TOTAL per kind. Net = approved and still
    captured (a reversed payment is not takings; a pending wallet transaction is
    not done yet)."""
    lines: list[list[object]] = [list(TOTALS_CSV_COLUMNS)]
    for total in [*per_kiosk, *overall]:
        lines.append([day.isoformat(), total.kiosk_id, total.kind, total.approved_count, total.approved_fen,
                      _yuan(total.approved_fen), total.declined_count, total.reversed_count, total.reversed_fen,
                      total.voided_count, total.pending_count, total.pending_fen, total.approved_fen,
                      _yuan(total.approved_fen)])
    return _csv(lines)
