"""Reconciliation of one business day: the property ledger and the kiosks'
backup copies against the bank journal, which prevails.

Bank card bill payments: per transaction id, the bank's net for the day (sales
captured − reversals that undid a capture, from bank_journal) must equal the
ledger's net (payment and reversal entries of property_ledger) with the same
reference; every transaction the bank journal saw must have the kiosk's copy
(property_backups) saying the same thing; a copy the bank never saw is listed
too.

IC wallet money: every wallet transaction of the day (authorised that day, or
with a wallet_* journal line, a `wallet` ledger entry or a kiosk copy that
day) is checked over its whole life against the card centre's record
(card_txns): a load pending or completed has debited the resident's bank card
(wallet_load) and a cancelled one has been credited back (wallet_load_reversal);
a completed unload has credited it (wallet_unload); a completed purchase has
credited the property ledger (`wallet`); nothing else moves money. A
transaction still authorised is "pending, awaiting the card" on its own day and
a difference once its day is over. A completed or cancelled one must have its
kiosk's copy, like a card payment (the kiosk that authorised it sends it, even
when the card was settled at another kiosk). Each disagreement is one
Difference."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine, Row

from host.bank.journal import WALLET_LOAD, WALLET_LOAD_REVERSAL, WALLET_UNLOAD
from host.console.transactions import WALLET_KIND, mask_serial
from host.schema.bank import bank_journal, bank_txns, property_backups, property_ledger
from host.schema.cards import card_txns

BANK_TYPES = ("sale", "reversal")
LEDGER_KINDS = ("payment", "reversal")
WALLET_TYPES = (WALLET_LOAD, WALLET_LOAD_REVERSAL, WALLET_UNLOAD)
# how a wallet journal line moves the resident's bank card: − debited, + credited
_BANK_CARD_SIGN = {(WALLET_LOAD, "approved"): -1, (WALLET_LOAD_REVERSAL, "reversed"): 1,
                   (WALLET_UNLOAD, "approved"): 1}
# the card-centre states whose transaction the authorising kiosk copies (it copies
# no decline, and nothing still pending)
_COPIED = ("completed", "cancelled")
# the kiosk copy results that agree with a card-centre state (a kiosk that cancelled
# a transaction the card centre had declined journals it cancelled: nothing moved)
_COPY_AGREES = {"completed": ("completed",), "cancelled": ("cancelled",), "declined": ("cancelled", "declined"),
                "authorised": ()}


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str             # missing_in_ledger | missing_in_bank | amount_differs | reference_differs |
    #                       backup_missing | backup_differs | backup_unknown_to_bank; wallet also:
    #                       bank_without_card | ledger_without_card | unknown_to_card_centre | pending_overdue
    #                       (and backup_missing: a settled one with no kiosk copy)
    txn_id: str
    kiosk_id: str
    bank_fen: int | None  # wallet: the bank card's movement (− debited, + credited)
    ledger_fen: int | None
    backup: str           # what the kiosk's copy says ("approved ¥12.00"), or ""
    detail: str = ""
    card_kind: str = ""   # wallet: wallet_load | wallet_unload | wallet_purchase ("" if unknown)
    card_state: str = ""  # wallet: the card centre's state (authorised | completed | cancelled | declined)
    expected_fen: int | None = None   # wallet: what the card centre's record implies for the side that differs


@dataclass
class Side:
    count: int = 0
    captured_fen: int = 0
    reversed_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.captured_fen - self.reversed_fen


@dataclass
class WalletSide:
    """The day's wallet money on one side. Bank journal: loads debited, loads
    credited back, unloads credited. Ledger: purchases. Card centre (by the day
    it authorised): loads, unloads and purchases completed, loads cancelled
    after the debit, and what is still pending."""
    count: int = 0
    loads_fen: int = 0
    reversals_fen: int = 0
    unloads_fen: int = 0
    purchases_fen: int = 0
    pending_fen: int = 0


@dataclass(frozen=True, slots=True)
class PendingWallet:
    """Authorised today, awaiting the card's proof (or a cancel): not a difference yet."""
    txn_id: str
    kiosk_id: str
    kind: str             # wallet_load | wallet_unload | wallet_purchase
    amount_fen: int
    ic_card: str          # masked
    at: datetime


@dataclass
class WalletReconciliation:
    bank: WalletSide = field(default_factory=WalletSide)
    ledger: WalletSide = field(default_factory=WalletSide)
    cards: WalletSide = field(default_factory=WalletSide)
    differences: list[Difference] = field(default_factory=list)
    pending: list[PendingWallet] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.bank.count or self.ledger.count or self.cards.count or self.differences)


@dataclass
class DayReconciliation:
    day: date
    bank: Side = field(default_factory=Side)
    ledger: Side = field(default_factory=Side)
    backups: Side = field(default_factory=Side)
    differences: list[Difference] = field(default_factory=list)
    wallet: WalletReconciliation = field(default_factory=WalletReconciliation)

    @property
    def difference_count(self) -> int:
        return len(self.differences) + len(self.wallet.differences)

    @property
    def balanced(self) -> bool:
        return not self.difference_count    # pending wallet transactions are not differences

    @property
    def active(self) -> bool:
        return bool(self.bank.count or self.ledger.count or self.backups.count or self.wallet.active)


def _wallet_copy(copy: Row[Any], card_ids: set[str]) -> bool:
    """A kiosk copy of a wallet transaction: the card centre knows its id, or the
    kiosk says so (its kind is wallet_*)."""
    if copy.txn_id in card_ids:
        return True
    try:
        kind = json.loads(copy.txn_json).get("kind", "")
    except (ValueError, AttributeError):
        return False
    return isinstance(kind, str) and kind.startswith("wallet_")


def reconcile(engine: Engine, day: date, today: date | None = None) -> DayReconciliation:
    """`today` (default: `day`) decides whether a pending wallet transaction is
    still awaiting its card or overdue."""
    result = DayReconciliation(day)
    with engine.connect() as conn:
        journal = conn.execute(select(bank_journal).where(bank_journal.c.business_day == day,
                                                          bank_journal.c.type.in_(BANK_TYPES))
                               .order_by(bank_journal.c.id)).all()
        ledger = conn.execute(select(property_ledger).where(property_ledger.c.business_day == day,
                                                            property_ledger.c.kind.in_(LEDGER_KINDS))).all()
        txn_ids = {r.txn_id for r in journal} | {r.txn_id for r in ledger}
        # `at` is the kiosk's ISO time: a range (not LIKE 'day%') lets SQLite use its index
        at = property_backups.c.at
        day_copies = conn.execute(select(property_backups).where(
            property_backups.c.txn_id.in_(txn_ids)
            | ((at >= day.isoformat()) & (at < (day + timedelta(days=1)).isoformat())))).all()
        card_ids = set(conn.scalars(select(card_txns.c.txn_id)
                                    .where(card_txns.c.txn_id.in_({b.txn_id for b in day_copies}))))
        # wallet copies are checked against the card centre, never the bank's card payments
        backups = [b for b in day_copies if not _wallet_copy(b, card_ids)]
        wallet_copy_ids = {b.txn_id for b in day_copies} - {b.txn_id for b in backups}
        wanted = txn_ids | {b.txn_id for b in backups}
        bank = conn.execute(select(bank_txns.c.txn_id, bank_txns.c.state, bank_txns.c.business_day)
                            .where(bank_txns.c.txn_id.in_(wanted))).all()
        final = {r.txn_id: r.state for r in bank}   # the bank's last word
        # a copy stamped on this day by the kiosk's clock whose payment the bank booked on
        # another (sent at 23:59:59, booked after midnight) belongs to that other day
        elsewhere = {r.txn_id for r in bank if r.business_day != day and r.txn_id not in txn_ids}
        backups = [b for b in backups if b.txn_id not in elsewhere]
        _reconcile_wallet(conn, result.wallet, day, today or day, wallet_copy_ids)

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
        backup, word = copies.get(txn_id), final.get(txn_id, "")
        if backup is None:
            result.differences.append(Difference("backup_missing", txn_id, kiosk_of[txn_id],
                                                 bank_net.get(txn_id), ledger_net.get(txn_id), "", "backlog"))
        elif backup.result != word or (word == "approved"
                                       and backup.amount_fen != bank_net.get(txn_id, backup.amount_fen)):
            result.differences.append(Difference("backup_differs", txn_id, backup.kiosk_id, bank_net.get(txn_id),
                                                 ledger_net.get(txn_id), backup.result or "",
                                                 f"{word} / {backup.result}"))
    for copy in backups:
        if copy.txn_id not in final:
            result.differences.append(Difference("backup_unknown_to_bank", copy.txn_id, copy.kiosk_id, None, None,
                                                 copy.result or ""))
    return result


def _expected(txn: Row[Any]) -> tuple[int, int]:
    """(the bank card's movement, the property ledger's) that the card centre's
    record implies over the transaction's whole life."""
    amount = txn.amount_fen or 0
    if txn.kind == "load" and txn.state in ("authorised", "completed"):
        return -amount, 0     # debited at authorise; only a cancel gives it back
    if txn.kind == "unload" and txn.state == "completed":
        return amount, 0      # credited when the card's MAC3 proved the debit
    if txn.kind == "purchase" and txn.state == "completed":
        return 0, amount
    return 0, 0


def _side(actual: int, expected: int, missing: str, extra: str) -> str | None:
    if actual == expected:
        return None
    if actual == 0:
        return missing            # the card centre moved money this side never saw
    if expected == 0:
        return extra              # this side moved money the card centre did not
    return "amount_differs"


def _reconcile_wallet(conn: Connection, result: WalletReconciliation, day: date, today: date,
                      copy_ids: set[str]) -> None:
    c, j, led, b = card_txns.c, bank_journal.c, property_ledger.c, property_backups.c
    ids = set(conn.scalars(select(c.txn_id).where(c.business_day == day))) | copy_ids
    ids |= set(conn.scalars(select(j.txn_id).where(j.business_day == day, j.type.in_(WALLET_TYPES))))
    ids |= set(conn.scalars(select(led.txn_id).where(led.business_day == day, led.kind == "wallet")))
    if not ids:
        return
    # every line of these transactions, whatever its day: a cancel or confirm may come days later
    txns = {t.txn_id: t for t in conn.execute(select(card_txns).where(c.txn_id.in_(ids)))}
    lines = conn.execute(select(bank_journal).where(j.txn_id.in_(ids), j.type.in_(WALLET_TYPES))
                         .order_by(j.id)).all()
    entries = conn.execute(select(property_ledger).where(led.txn_id.in_(ids), led.kind == "wallet")).all()
    copies = {r.txn_id: r for r in conn.execute(select(property_backups).where(b.txn_id.in_(ids)))}

    bank: dict[str, int] = defaultdict(int)
    ledger: dict[str, int] = defaultdict(int)
    refs: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        sign = _BANK_CARD_SIGN.get((line.type, line.result), 0)
        bank[line.txn_id] += sign * line.amount_fen
        if sign and line.reference:
            refs[line.txn_id].add(line.reference)
        if line.business_day == day:
            result.bank.count += 1
            if sign < 0:
                result.bank.loads_fen += line.amount_fen
            elif line.type == WALLET_LOAD_REVERSAL and sign:
                result.bank.reversals_fen += line.amount_fen
            elif sign:
                result.bank.unloads_fen += line.amount_fen
    for entry in entries:
        ledger[entry.txn_id] += entry.amount_fen
        refs[entry.txn_id].add(entry.reference)
        if entry.business_day == day:
            result.ledger.count += 1
            result.ledger.purchases_fen += entry.amount_fen
    for card_txn in txns.values():
        if card_txn.business_day == day:
            _count(result.cards, card_txn)

    for txn_id in sorted(ids):
        txn, copy = txns.get(txn_id), copies.get(txn_id)
        said = (copy.result or "") if copy is not None else ""
        got_bank, got_ledger = bank.get(txn_id), ledger.get(txn_id)
        if txn is None:
            kiosk = copy.kiosk_id if copy is not None else \
                next((line.kiosk_id for line in lines if line.txn_id == txn_id), "")
            result.differences.append(Difference("unknown_to_card_centre", txn_id, kiosk, got_bank, got_ledger,
                                                 said))
            continue
        kind, state = WALLET_KIND.get(txn.kind, txn.kind), txn.state
        found: list[tuple[str, str, int | None]] = []        # (difference, detail, expected)
        want_bank, want_ledger = _expected(txn)
        if (what := _side(got_bank or 0, want_bank, "missing_in_bank", "bank_without_card")) is not None:
            found.append((what, "", want_bank))
        if (what := _side(got_ledger or 0, want_ledger, "missing_in_ledger", "ledger_without_card")) is not None:
            found.append((what, "", want_ledger))
        wrong_refs = sorted(r for r in refs[txn_id] if r != txn.reference)
        if wrong_refs:
            found.append(("reference_differs", f"{txn.reference or '—'} / {', '.join(wrong_refs)}", None))
        if state == "authorised":
            if txn.business_day < today:      # its day is over and the card never came back
                found.append(("pending_overdue", txn.business_day.isoformat(), None))
            else:
                result.pending.append(PendingWallet(txn_id, txn.kiosk_id, kind, txn.amount_fen or 0,
                                                    mask_serial(txn.serial), txn.created_at))
        if copy is not None and (said not in _COPY_AGREES.get(state, ()) or (
                None not in (copy.amount_fen, txn.amount_fen) and copy.amount_fen != txn.amount_fen)):
            found.append(("backup_differs", f"{state} / {said}", None))
        if copy is None and state in _COPIED:
            found.append(("backup_missing", "backlog", None))     # may still be in the kiosk's upload backlog
        result.differences.extend(Difference(what, txn_id, txn.kiosk_id, got_bank, got_ledger, said, detail,
                                             kind, state, expected) for what, detail, expected in found)


def _count(side: WalletSide, txn: Row[Any]) -> None:
    side.count += 1
    amount = txn.amount_fen or 0
    if txn.state == "authorised":
        side.pending_fen += amount
    elif txn.state == "completed":
        if txn.kind == "load":
            side.loads_fen += amount
        elif txn.kind == "unload":
            side.unloads_fen += amount
        else:
            side.purchases_fen += amount
    elif txn.state == "cancelled" and txn.kind == "load" and txn.reference:
        side.reversals_fen += amount      # the bank debited it and has to give it back


def recent_days(engine: Engine, last: date, days: int = 14) -> list[DayReconciliation]:
    return [reconcile(engine, last - timedelta(days=i), last) for i in range(days)]
