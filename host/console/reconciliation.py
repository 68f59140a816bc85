"""Reconciliation of one business day: the property ledger and the kiosks'
backup copies against the bank journal, which prevails.

Bank card bill payments: against the bank link's journal, per retrieval
reference number (reconciliation_link.py).

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
Difference.

Prepaid meter sales paid by bank card: against the bank journal's meter_*
lines (meter_reconciliation.py)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine, Row

from host.bank.journal import WALLET_LOAD, WALLET_LOAD_REVERSAL, WALLET_UNLOAD
from host.console.transactions import WALLET_KIND, mask_serial
from host.console.meter_reconciliation import MeterReconciliation, reconcile_meters
from host.console.reconciliation_link import Difference, Side, reconcile_link, wallet_copy
from host.schema.bank import bank_journal, property_backups, property_ledger
from host.schema.cards import card_txns

__all__ = ["DayReconciliation", "Difference", "Side", "reconcile", "recent_days"]
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
    meters: MeterReconciliation = field(default_factory=MeterReconciliation)

    @property
    def difference_count(self) -> int:
        return len(self.differences) + len(self.wallet.differences) + len(self.meters.differences)

    @property
    def balanced(self) -> bool:
        return not self.difference_count    # pending wallet transactions are not differences

    @property
    def active(self) -> bool:
        return bool(self.bank.count or self.ledger.count or self.backups.count or self.wallet.active
                    or self.meters.active)


def reconcile(engine: Engine, day: date, today: date | None = None) -> DayReconciliation:
    """`today` (default: `day`) decides whether a pending wallet transaction is
    still awaiting its card or overdue."""
    result = DayReconciliation(day)
    with engine.connect() as conn:
        cards = reconcile_link(conn, day)
        result.bank, result.ledger, result.backups, result.differences = \
            cards.bank, cards.ledger, cards.backups, cards.differences
        # `at` is the kiosk's ISO time: a range (not LIKE 'day%') lets SQLite use its index
        at = property_backups.c.at
        day_copies = conn.execute(select(property_backups.c.txn_id, property_backups.c.txn_json).where(
            (at >= day.isoformat()) & (at < (day + timedelta(days=1)).isoformat()))).all()
        day_copies = [c for c in day_copies if c.txn_id not in cards.copy_ids]
        card_ids = set(conn.scalars(select(card_txns.c.txn_id)
                                    .where(card_txns.c.txn_id.in_({b.txn_id for b in day_copies}))))
        wallet_copy_ids = {b.txn_id for b in day_copies if wallet_copy(b, card_ids)}
        _reconcile_wallet(conn, result.wallet, day, today or day, wallet_copy_ids)
        result.meters = reconcile_meters(conn, day)
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
