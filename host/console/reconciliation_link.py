"""Bank card bill payments of one business day against the bank link's
journal (`bank_link_journal`), which prevails (seed 000: 必须以银行的交易流水为准).

The three records of a payment share its retrieval reference number (37 of
the 0210): the bank's journal line (approved purchase, its business day),
the property ledger's entry (`reference`) and the kiosk's copy (`reference`
of an approved copy). Per RRN the bank's net (approved and not reversed)
must equal the ledger's; a purchase the bank holds approved needs the
kiosk's approved copy, and an approved copy needs the bank's approval. A
copy that is not approved (declined, reversed, not sent) carries no RRN:
it claims no money and is counted, not paired (a payment the bank kept but
the kiosk believes undone shows as the bank's line without its copy).

A reversal counts on its original's business day (the link's journal keeps
one line per purchase, its reversal time beside it)."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Row

from host.schema.bank import bank_link_journal, bank_link_sessions, property_backups, property_ledger
from host.schema.cards import card_txns

LEDGER_KINDS = ("payment", "reversal")
APPROVED = "00"


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str             # missing_in_ledger | missing_in_bank | amount_differs |
    #                       backup_missing | backup_differs | backup_unknown_to_bank; wallet also:
    #                       reference_differs | bank_without_card | ledger_without_card |
    #                       unknown_to_card_centre | pending_overdue (and backup_missing: a settled
    #                       one with no kiosk copy)
    txn_id: str           # card payments: the kiosk's id when its copy or the ledger names it, else ""
    kiosk_id: str
    bank_fen: int | None  # wallet: the bank card's movement (− debited, + credited)
    ledger_fen: int | None
    backup: str           # what the kiosk's copy says ("approved ¥12.00"), or ""
    detail: str = ""
    card_kind: str = ""   # wallet: wallet_load | wallet_unload | wallet_purchase ("" if unknown)
    card_state: str = ""  # wallet: the card centre's state (authorised | completed | cancelled | declined)
    expected_fen: int | None = None   # wallet: what the card centre's record implies for the side that differs
    reference: str = ""   # card payments: the RRN (37) the three records share
    bank_line: str = ""   # card payments: the bank's record, terminal/batch/STAN ("" if the bank has none)


@dataclass
class Side:
    count: int = 0
    captured_fen: int = 0
    reversed_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.captured_fen - self.reversed_fen


@dataclass
class LinkReconciliation:
    bank: Side = field(default_factory=Side)
    ledger: Side = field(default_factory=Side)
    backups: Side = field(default_factory=Side)
    differences: list[Difference] = field(default_factory=list)
    copy_ids: set[str] = field(default_factory=set)   # the copies taken here (the wallet's are the others)


def wallet_copy(copy: Any, card_ids: set[str]) -> bool:
    """A kiosk copy of a wallet transaction: the card centre knows its id, or the
    kiosk says so (its kind is wallet_*)."""
    if copy.txn_id in card_ids:
        return True
    try:
        kind = json.loads(copy.txn_json).get("kind", "")
    except (ValueError, AttributeError):
        return False
    return isinstance(kind, str) and kind.startswith("wallet_")


@dataclass(frozen=True, slots=True)
class BankLine:
    """What a difference needs of the bank's record (the console settles from it)."""
    terminal_id: str
    batch: str
    stan: str
    kiosk_id: str

    @property
    def key(self) -> str:
        return f"{self.terminal_id.strip()}/{self.batch}/{self.stan}"


def bank_line_key(terminal_id: str, batch: str, stan: str) -> str:
    return f"{terminal_id.strip()}/{batch}/{stan}"


def _kiosks(conn: Connection) -> dict[str, str]:
    c = bank_link_sessions.c
    return {t.strip(): k for t, k in conn.execute(select(c.terminal_id, c.kiosk_id))}


def _copies(conn: Connection, day: date, day_refs: set[str]) -> list[Row[Any]]:
    """The kiosks' bank-card copies of the day: those naming one of the day's
    RRNs, and those stamped on the day by the kiosk's clock, less approved
    ones the bank booked on another day (sent at 23:59:59, booked after
    midnight) and wallet copies (checked against the card centre)."""
    b = property_backups.c
    at = b.at   # the kiosk's ISO time: a range (not LIKE 'day%') lets SQLite use its index
    rows = conn.execute(select(property_backups).where(
        b.reference.in_(day_refs) | ((at >= day.isoformat()) & (at < (day + timedelta(days=1)).isoformat())))).all()
    card_ids = set(conn.scalars(select(card_txns.c.txn_id).where(card_txns.c.txn_id.in_({r.txn_id for r in rows}))))
    rows = [r for r in rows if not wallet_copy(r, card_ids)]
    elsewhere = {r.reference for r in rows if r.result == "approved" and r.reference
                 and r.reference not in day_refs}
    if elsewhere:
        j = bank_link_journal.c
        booked_elsewhere = set(conn.scalars(select(j.rrn).where(j.rrn.in_(elsewhere), j.kind == "purchase",
                                                                j.business_day != day)))
        rows = [r for r in rows if r.reference not in booked_elsewhere]
    return rows


def reconcile_link(conn: Connection, day: date) -> LinkReconciliation:
    result = LinkReconciliation()
    kiosks = _kiosks(conn)
    j = bank_link_journal.c
    lines = conn.execute(select(bank_link_journal).where(
        j.business_day == day, j.kind == "purchase", j.code == APPROVED).order_by(j.id)).all()
    bank_net: dict[str, int] = {}
    bank_state: dict[str, str] = {}
    where: dict[str, BankLine] = {}
    for line in lines:
        rrn = (line.rrn or "").strip()
        result.bank.count += 1
        result.bank.captured_fen += line.amount_fen
        if line.state == "reversed":
            result.bank.reversed_fen += line.amount_fen
        bank_net[rrn] = line.amount_fen if line.state == "approved" else 0
        bank_state[rrn] = line.state
        where[rrn] = BankLine(line.terminal_id, line.batch, line.stan, kiosks.get(line.terminal_id.strip(), ""))

    led = property_ledger.c
    entries = conn.execute(select(property_ledger).where(led.business_day == day, led.kind.in_(LEDGER_KINDS))).all()
    ledger_net: dict[str, int] = defaultdict(int)
    txn_of: dict[str, str] = {}
    for entry in entries:
        result.ledger.count += 1
        ledger_net[entry.reference] += entry.amount_fen
        txn_of.setdefault(entry.reference, entry.txn_id)
        if entry.kind == "payment":
            result.ledger.captured_fen += entry.amount_fen
        else:
            result.ledger.reversed_fen -= entry.amount_fen

    copies = _copies(conn, day, set(bank_net))
    approved_copy: dict[str, Row[Any]] = {}
    for taken in copies:
        result.backups.count += 1   # every bank-card copy of the day
        if taken.result == "approved":
            result.backups.captured_fen += taken.amount_fen or 0
            if taken.reference:
                approved_copy[taken.reference] = taken
                txn_of.setdefault(taken.reference, taken.txn_id)

    def diff(kind: str, rrn: str, b: int | None, led_fen: int | None, said: str = "", detail: str = "") -> None:
        line = where.get(rrn)
        said_by = approved_copy.get(rrn)
        kiosk = line.kiosk_id if line else (said_by.kiosk_id if said_by is not None else "")
        result.differences.append(Difference(kind, txn_of.get(rrn, ""), kiosk, b, led_fen, said, detail,
                                             reference=rrn, bank_line=line.key if line else ""))

    for rrn in sorted(set(bank_net) | set(ledger_net)):
        b, led_fen = bank_net.get(rrn), ledger_net.get(rrn)
        if led_fen is None and b:
            diff("missing_in_ledger", rrn, b, None)
        elif b is None and led_fen:
            diff("missing_in_bank", rrn, None, led_fen)
        elif (b or 0) != (led_fen or 0):
            diff("amount_differs", rrn, b, led_fen)
    for rrn, state in sorted(bank_state.items()):
        copy = approved_copy.get(rrn)
        if state == "approved" and copy is None:
            diff("backup_missing", rrn, bank_net.get(rrn), ledger_net.get(rrn), "", "backlog")
        elif copy is not None and (state != "approved" or copy.amount_fen != bank_net.get(rrn)):
            diff("backup_differs", rrn, bank_net.get(rrn), ledger_net.get(rrn), copy.result or "",
                 f"{state} / {copy.result}")
    for rrn, unknown in sorted(approved_copy.items()):
        if rrn not in bank_state:
            result.differences.append(Difference("backup_unknown_to_bank", unknown.txn_id, unknown.kiosk_id, None,
                                                 ledger_net.get(rrn), unknown.result or "", reference=rrn))
    result.copy_ids = {c.txn_id for c in copies}
    return result
