"""Reconciliation of one business day: the property ledger and the kiosks'
backup copies against the bank journal, which prevails.

Per transaction id, the bank's net for the day (sales captured − reversals
that undid a capture, from bank_journal) must equal the ledger's net
(payment and reversal entries of property_ledger) with the same reference;
every transaction the bank journal saw must have the kiosk's copy
(property_backups) saying the same thing; a copy the bank never saw is listed
too. Each disagreement is one Difference. IC wallet money (other journal line
types and ledger kinds) is outside these checks until its own is added."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from host.db import bank_journal, bank_txns, property_backups, property_ledger

BANK_TYPES = ("sale", "reversal")
LEDGER_KINDS = ("payment", "reversal")


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str             # missing_in_ledger | missing_in_bank | amount_differs | reference_differs |
    #                       backup_missing | backup_differs | backup_unknown_to_bank
    txn_id: str
    kiosk_id: str
    bank_fen: int | None
    ledger_fen: int | None
    backup: str           # what the kiosk's copy says ("approved ¥12.00"), or ""
    detail: str = ""


@dataclass
class Side:
    count: int = 0
    captured_fen: int = 0
    reversed_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.captured_fen - self.reversed_fen


@dataclass
class DayReconciliation:
    day: date
    bank: Side = field(default_factory=Side)
    ledger: Side = field(default_factory=Side)
    backups: Side = field(default_factory=Side)
    differences: list[Difference] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.differences

    @property
    def active(self) -> bool:
        return bool(self.bank.count or self.ledger.count or self.backups.count)


def reconcile(engine: Engine, day: date) -> DayReconciliation:
    result = DayReconciliation(day)
    with engine.connect() as conn:
        journal = conn.execute(select(bank_journal).where(bank_journal.c.business_day == day,
                                                          bank_journal.c.type.in_(BANK_TYPES))
                               .order_by(bank_journal.c.id)).all()
        ledger = conn.execute(select(property_ledger).where(property_ledger.c.business_day == day,
                                                            property_ledger.c.kind.in_(LEDGER_KINDS))).all()
        txn_ids = {r.txn_id for r in journal} | {r.txn_id for r in ledger}
        day_prefix = day.isoformat()
        backups = conn.execute(select(property_backups).where(
            property_backups.c.txn_id.in_(txn_ids) | property_backups.c.at.startswith(day_prefix))).all()
        wanted = txn_ids | {b.txn_id for b in backups}
        final = dict(conn.execute(select(bank_txns.c.txn_id, bank_txns.c.state)
                                  .where(bank_txns.c.txn_id.in_(wanted))).all())   # the bank's last word

    bank_net: dict[str, int] = defaultdict(int)
    bank_ref: dict[str, str] = {}
    kiosk_of: dict[str, str] = {}
    for line in journal:
        kiosk_of[line.txn_id] = line.kiosk_id
        result.bank.count += 1
        if line.type == "sale":
            if line.result == "approved":
                bank_net[line.txn_id] += line.amount_fen
                bank_ref[line.txn_id] = line.reference or ""
                result.bank.captured_fen += line.amount_fen
        elif line.result == "reversed":
            bank_net[line.txn_id] -= line.amount_fen
            result.bank.reversed_fen += line.amount_fen

    ledger_net: dict[str, int] = defaultdict(int)
    ledger_ref: dict[str, str] = {}
    for entry in ledger:
        result.ledger.count += 1
        ledger_net[entry.txn_id] += entry.amount_fen
        if entry.kind == "payment":
            ledger_ref[entry.txn_id] = entry.reference
            result.ledger.captured_fen += entry.amount_fen
        else:
            result.ledger.reversed_fen -= entry.amount_fen

    for txn_id in sorted(set(bank_net) | set(ledger_net)):
        b, led = bank_net.get(txn_id), ledger_net.get(txn_id)
        kiosk = kiosk_of.get(txn_id, "")
        if led is None and b:
            result.differences.append(Difference("missing_in_ledger", txn_id, kiosk, b, None, ""))
        elif b is None and led:
            result.differences.append(Difference("missing_in_bank", txn_id, kiosk, None, led, ""))
        elif (b or 0) != (led or 0):
            result.differences.append(Difference("amount_differs", txn_id, kiosk, b, led, ""))
        elif txn_id in bank_ref and txn_id in ledger_ref and bank_ref[txn_id] != ledger_ref[txn_id]:
            result.differences.append(Difference("reference_differs", txn_id, kiosk, b, led, "",
                                                 f"{bank_ref[txn_id]} / {ledger_ref[txn_id]}"))

    copies = {r.txn_id: r for r in backups}
    journal_ids = set(kiosk_of)
    for copy in backups:
        result.backups.count += 1
        if copy.result == "approved":     # a kiosk reverses only what it never saw approved
            result.backups.captured_fen += copy.amount_fen or 0
    for txn_id in sorted(journal_ids):
        copy, word = copies.get(txn_id), final.get(txn_id, "")
        if copy is None:
            result.differences.append(Difference("backup_missing", txn_id, kiosk_of[txn_id],
                                                 bank_net.get(txn_id), ledger_net.get(txn_id), "", "backlog"))
        elif copy.result != word or (word == "approved" and copy.amount_fen != bank_net.get(txn_id, copy.amount_fen)):
            result.differences.append(Difference("backup_differs", txn_id, copy.kiosk_id, bank_net.get(txn_id),
                                                 ledger_net.get(txn_id), copy.result or "", f"{word} / {copy.result}"))
    for copy in backups:
        if copy.txn_id not in final:
            result.differences.append(Difference("backup_unknown_to_bank", copy.txn_id, copy.kiosk_id, None, None,
                                                 copy.result or ""))
    return result


def recent_days(engine: Engine, last: date, days: int = 14) -> list[DayReconciliation]:
    return [reconcile(engine, last - timedelta(days=i)) for i in range(days)]
