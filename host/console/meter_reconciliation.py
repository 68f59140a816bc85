"""Prepaid meter sales paid by bank card against the reference bank's journal
(`bank_journal`: a `meter_sale` approved line when the card is debited, a
`meter_reversal` reversed line when the money is given back), which prevails.

A sale is checked over its whole life, like a wallet transaction: every sale
paid by bank card on the day, or with a meter line on the day. Paid and not
reversed: the bank debited its amount once; reversed: the bank debited it and
credited it back; the lines carry the sale's payment reference. A bank line
for a sale the host does not know, or a sale paid from the IC wallet (the
card centre's reconciliation has those), is a difference too. Declined lines
moved nothing and are not counted."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from host.schema.bank import bank_journal
from host.schema.meters import meter_sales

METER_SALE, METER_REVERSAL = "meter_sale", "meter_reversal"
_MOVES = {(METER_SALE, "approved"), (METER_REVERSAL, "reversed")}


@dataclass
class MeterSide:
    """One side's meter money of the day: sales paid by bank card (debits) and
    reversed (credits back). Sales: by the day each was paid; bank: by its lines' day."""
    count: int = 0
    sold_fen: int = 0
    reversed_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.sold_fen - self.reversed_fen


@dataclass(frozen=True, slots=True)
class MeterDifference:
    kind: str             # missing_in_bank | bank_without_sale | amount_differs | reference_differs
    sale_id: str
    kiosk_id: str
    meter_no: str         # "" when the host has no such sale
    sales_fen: int | None  # what the sale implies the bank moved (− debited, + credited)
    bank_fen: int | None   # what the bank's lines moved
    detail: str = ""


@dataclass
class MeterReconciliation:
    sales: MeterSide = field(default_factory=MeterSide)
    bank: MeterSide = field(default_factory=MeterSide)
    differences: list[MeterDifference] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.sales.count or self.bank.count or self.differences)


def _implied(sale: Any) -> tuple[int, int]:
    """(debited, credited back) that a bank-card sale implies over its life."""
    amount = int(sale.amount_fen)
    return amount, amount if sale.state == "reversed" else 0


def reconcile_meters(conn: Connection, day: date) -> MeterReconciliation:
    result = MeterReconciliation()
    s, j = meter_sales.c, bank_journal.c
    moving = j.type.in_((METER_SALE, METER_REVERSAL))
    ids = set(conn.scalars(select(s.sale_id).where(s.business_day == day, s.account_id.is_not(None))))
    ids |= set(conn.scalars(select(j.txn_id).where(j.business_day == day, moving, j.result != "declined")))
    if not ids:
        return result
    sales = {r.sale_id: r for r in conn.execute(select(meter_sales).where(s.sale_id.in_(ids)))}
    lines = conn.execute(select(bank_journal).where(j.txn_id.in_(ids), moving).order_by(j.id)).all()
    debited: dict[str, int] = defaultdict(int)
    credited: dict[str, int] = defaultdict(int)
    refs: dict[str, set[str]] = defaultdict(set)
    kiosks: dict[str, str] = {}
    for line in lines:
        if (line.type, line.result) not in _MOVES:
            continue
        kiosks.setdefault(line.txn_id, line.kiosk_id)
        (debited if line.type == METER_SALE else credited)[line.txn_id] += line.amount_fen
        if line.reference:
            refs[line.txn_id].add(line.reference)
        if line.business_day == day:
            result.bank.count += 1
            if line.type == METER_SALE:
                result.bank.sold_fen += line.amount_fen
            else:
                result.bank.reversed_fen += line.amount_fen
    for row in sales.values():
        if row.business_day == day and row.account_id is not None:
            result.sales.count += 1
            result.sales.sold_fen += row.amount_fen
            if row.state == "reversed":
                result.sales.reversed_fen += row.amount_fen

    for sale_id in sorted(ids):
        sale: Any = sales.get(sale_id)
        got = -debited.get(sale_id, 0) + credited.get(sale_id, 0)
        moved = sale_id in debited or sale_id in credited
        if sale is None or sale.account_id is None:
            if moved:      # the bank moved money for a sale the host never took by bank card
                result.differences.append(MeterDifference(
                    "bank_without_sale", sale_id, kiosks.get(sale_id, ""), sale.meter_no if sale else "",
                    None, got, "wallet" if sale is not None else ""))
            continue
        want_debit, want_credit = _implied(sale)
        want = -want_debit + want_credit
        kind = None
        if not moved:
            kind = "missing_in_bank"
        elif (debited.get(sale_id, 0), credited.get(sale_id, 0)) != (want_debit, want_credit):
            kind = "amount_differs"
        if kind is not None:
            result.differences.append(MeterDifference(kind, sale_id, sale.kiosk_id, sale.meter_no, want, got,
                                                      sale.state))
        wrong = sorted(r for r in refs[sale_id] if r != sale.reference)
        if wrong:
            result.differences.append(MeterDifference("reference_differs", sale_id, sale.kiosk_id, sale.meter_no,
                                                      want, got, f"{sale.reference or '—'} / {', '.join(wrong)}"))
    return result
