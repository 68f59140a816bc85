"""Transaction search across the host's sources, day totals, CSV exports.

A source turns a query into rows of one shape (TxnRow). Today there is one:
bank card bill payments (bank_txns, the bank's own record). IC wallet
transactions (host.cards) become a second source implementing the same
protocol, added to `SOURCES` - nothing else changes. Only masked card numbers
(first 6 / last 4) are ever read or shown."""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from host.db import bank_txns, households
from kiosk.domain.card import luhn_ok, mask_pan

STATUSES = ("approved", "declined", "reversed", "voided")
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
    kind: str             # card_payment (| wallet_* from another source)
    house_no: str
    masked_pan: str
    amount_fen: int
    status: str           # approved | declined | reversed | voided
    code: str             # decline code
    reference: str


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


class CardPayments:
    """Bank card bill payments: the bank's record, with the household's number."""

    name = "bank"

    def search(self, conn: Connection, query: TxnQuery) -> list[TxnRow]:
        t = bank_txns.c
        stmt = (select(t.txn_id, t.kiosk_id, t.state, t.masked_pan, t.amount_fen, t.reference, t.business_day,
                       t.created_at, t.reply_json, households.c.house_no)
                .select_from(bank_txns.outerjoin(households, households.c.id == t.household_id)))
        if query.day_from:
            stmt = stmt.where(t.business_day >= query.day_from)
        if query.day_to:
            stmt = stmt.where(t.business_day <= query.day_to)
        if query.kiosk_id:
            stmt = stmt.where(t.kiosk_id == query.kiosk_id)
        if query.house_no:
            stmt = stmt.where(households.c.house_no == query.house_no.strip())
        card = card_filter(query.card)
        if card is not None:
            op, value = card
            column = t.masked_pan
            if op == "masked":
                head, tail = value.split("*", 1)[0], value.rsplit("*", 1)[1]
                stmt = stmt.where(column.startswith(head, autoescape=True), column.endswith(tail, autoescape=True),
                                  column.contains("*"))
            else:
                stmt = stmt.where({"suffix": column.endswith(value, autoescape=True),
                                   "prefix": column.startswith(value, autoescape=True),
                                   "contains": column.contains(value, autoescape=True)}[op])
        if query.status == "approved":
            stmt = stmt.where(t.state == "approved")
        elif query.status == "declined":
            stmt = stmt.where(t.state == "declined")
        elif query.status == "reversed":
            stmt = stmt.where(t.state == "reversed", t.reference.is_not(None))
        elif query.status == "voided":
            stmt = stmt.where(t.state == "reversed", t.reference.is_(None))
        stmt = stmt.order_by(t.created_at.desc(), t.id.desc()).limit(query.limit + 1)
        rows = []
        for r in conn.execute(stmt):
            status = r.state if r.state != "reversed" else ("reversed" if r.reference else "voided")
            code = ""
            if r.state == "declined" and r.reply_json:
                try:
                    code = str(json.loads(r.reply_json).get("code", ""))
                except ValueError:
                    code = ""
            rows.append(TxnRow(self.name, r.created_at, r.business_day, r.kiosk_id, r.txn_id, "card_payment",
                               r.house_no or "", r.masked_pan or "", r.amount_fen, status, code, r.reference or ""))
        return rows


SOURCES: tuple[TransactionSource, ...] = (CardPayments(),)


def search(engine: Engine, query: TxnQuery, sources: Sequence[TransactionSource] = SOURCES
           ) -> tuple[list[TxnRow], bool]:
    """(rows newest first, truncated)."""
    with engine.connect() as conn:
        rows = [row for source in sources for row in source.search(conn, query)]
    rows.sort(key=lambda r: (r.at, r.txn_id), reverse=True)
    return rows[:query.limit], len(rows) > query.limit


@dataclass
class KioskDayTotal:
    kiosk_id: str
    approved_count: int = 0
    approved_fen: int = 0
    declined_count: int = 0
    reversed_count: int = 0
    reversed_fen: int = 0
    voided_count: int = 0

    def add(self, row: TxnRow) -> None:
        if row.status == "approved":
            self.approved_count += 1
            self.approved_fen += row.amount_fen
        elif row.status == "declined":
            self.declined_count += 1
        elif row.status == "reversed":
            self.reversed_count += 1
            self.reversed_fen += row.amount_fen
        else:
            self.voided_count += 1


def totals(rows: list[TxnRow]) -> tuple[list[KioskDayTotal], KioskDayTotal]:
    by_kiosk: dict[str, KioskDayTotal] = {}
    overall = KioskDayTotal("TOTAL")
    for row in rows:
        by_kiosk.setdefault(row.kiosk_id, KioskDayTotal(row.kiosk_id)).add(row)
        overall.add(row)
    return [by_kiosk[k] for k in sorted(by_kiosk)], overall


def day_totals(engine: Engine, day: date, sources: Sequence[TransactionSource] = SOURCES
               ) -> tuple[list[KioskDayTotal], KioskDayTotal]:
    with engine.connect() as conn:
        rows = [r for s in sources for r in s.search(conn, TxnQuery(day_from=day, day_to=day, limit=10 ** 9))]
    return totals(rows)


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _csv(rows: list[list[object]]) -> str:
    out = io.StringIO()
    out.write("\ufeff")     # a BOM: Excel, which the office opens these in, then reads UTF-8 Chinese right
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


TXN_CSV_COLUMNS = ("at", "business_day", "kiosk_id", "txn_id", "kind", "house_no", "masked_pan", "amount_fen",
                   "amount_yuan", "status", "code", "reference", "source")
TOTALS_CSV_COLUMNS = ("business_day", "kiosk_id", "approved_count", "approved_fen", "approved_yuan",
                      "declined_count", "reversed_count", "reversed_fen", "voided_count", "net_fen", "net_yuan")


def rows_csv(rows: list[TxnRow]) -> str:
    return _csv([list(TXN_CSV_COLUMNS)] + [
        [r.at.isoformat(timespec="seconds"), r.business_day.isoformat(), r.kiosk_id, r.txn_id, r.kind, r.house_no,
         r.masked_pan, r.amount_fen, _yuan(r.amount_fen), r.status, r.code, r.reference, r.source] for r in rows])


def totals_csv(day: date, per_kiosk: list[KioskDayTotal], overall: KioskDayTotal) -> str:
    """Net = approved and still captured (a reversed payment is not takings)."""
    lines: list[list[object]] = [list(TOTALS_CSV_COLUMNS)]
    for total in [*per_kiosk, overall]:
        lines.append([day.isoformat(), total.kiosk_id, total.approved_count, total.approved_fen,
                      _yuan(total.approved_fen), total.declined_count, total.reversed_count, total.reversed_fen,
                      total.voided_count, total.approved_fen, _yuan(total.approved_fen)])
    return _csv(lines)
