"""The property ledger learns of a bill payment over the bank link from the
kiosk's backup copy (store and forward): the front-end books only the bank's
side (`bank_link_journal`, the account), the copy books the property side.

The copy names the payment by its retrieval reference number (37 of the
0210, the copy's `reference`); the bank's journal line of this kiosk's
terminals with that RRN, approved, says the household and months (63, the
bill reference) and the amount — the bank prevails over the copy's own
figures. A copy whose bank record is missing, or whose bills are no longer
all unpaid, books nothing: the daily reconciliation shows it (docs/payments.md)."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from host.billing import dues, pay_bills
from host.config import HostSettings
from host.schema.bank import bank_link_journal, property_backups, property_ledger
from host.schema.estate import bills, households

log = logging.getLogger(__name__)

_BANK_LINE = select(bank_link_journal).where(
    bank_link_journal.c.rrn == bindparam("rrn"), bank_link_journal.c.kind == "purchase",
    bank_link_journal.c.state == "approved", bank_link_journal.c.terminal_id.in_(bindparam("terminals", expanding=True)))
_HOUSEHOLD = select(households.c.id).where(households.c.house_no == bindparam("house_no")).with_for_update()
_BOOKED = select(property_ledger.c.id).where(property_ledger.c.reference == bindparam("ref"),
                                             property_ledger.c.kind == "payment")


def parse_bill_ref(text: str) -> tuple[str, list[str]] | None:
    """63 of a purchase, `H=<house>;P=<period>,<period>…` → (house, periods)."""
    parts = dict(p.split("=", 1) for p in text.split(";") if "=" in p)
    house, periods = parts.get("H", ""), [p for p in parts.get("P", "").split(",") if p]
    return (house, periods) if house and periods else None


def terminals_of(settings: HostSettings, kiosk_id: str) -> list[str]:
    link = settings.bank_link
    return [t for t, k in link.terminals if k == kiosk_id] if link is not None else []


def book_link_payment(conn: Connection, settings: HostSettings, *, kiosk_id: str, txn_id: str, rrn: str,
                      now: datetime) -> bool:
    """Book an approved link purchase in the property ledger and mark its bills
    paid; True when booked now. Idempotent on the RRN."""
    terminals = terminals_of(settings, kiosk_id)
    if not rrn or not terminals:
        return False
    line = conn.execute(_BANK_LINE, {"rrn": rrn, "terminals": terminals}).first()
    if line is None or conn.execute(_BOOKED, {"ref": rrn}).first() is not None:
        return False
    bill = parse_bill_ref(line.bill_ref or "")
    household_id = conn.execute(_HOUSEHOLD, {"house_no": bill[0]}).scalar() if bill else None
    if bill is None or household_id is None:
        log.warning("link payment %s: bill reference %r names no household", rrn, line.bill_ref)
        return False
    house, periods = bill
    owed = dues(conn, household_id, line.business_day, settings)   # as the bank booked it
    if tuple(periods) != owed.periods or owed.total_due_fen != line.amount_fen:
        log.warning("link payment %s of %s does not match the bills due now: left to reconciliation", rrn, house)
        return False
    if pay_bills(conn, household_id, periods, reference=rrn, paid_at=now) != len(periods):
        raise RuntimeError(f"expected to pay {len(periods)} bills for {rrn}")
    conn.execute(insert(property_ledger).values(
        txn_id=txn_id, kind="payment", household_id=household_id, periods=",".join(periods),
        amount_fen=line.amount_fen, late_fee_fen=owed.late_fee_fen, reference=rrn,
        business_day=line.business_day, at=now))
    return True


class CannotSettle(Exception):
    """Staff asked to settle a bank record the ledger cannot take as it is;
    `reason` is a console message key's last part."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_ANY_LINE = select(bank_link_journal).where(bank_link_journal.c.rrn == bindparam("rrn"),
                                            bank_link_journal.c.kind == "purchase")
_COPY_TXN = select(property_backups.c.txn_id).where(property_backups.c.reference == bindparam("rrn"))
_UNPAID = select(bills.c.period, bills.c.amount_fen).where(
    bills.c.household_id == bindparam("hid"), bills.c.period.in_(bindparam("periods", expanding=True)),
    bills.c.paid_at.is_(None))


def settle_from_bank(conn: Connection, rrn: str, *, now: datetime) -> dict[str, object]:
    """Staff settle a payment the bank approved whose copy never came (or
    whose copy the ledger could not book): the bank's record prevails. The
    months of its bill reference are marked paid with its RRN and the ledger
    takes the bank's amount, the part above those bills' amounts as late fee
    (what the resident was charged for lateness when paying). Refused when
    the record is not an approved purchase, is booked already, names no
    household, or its months are no longer all unpaid or cost more than the
    bank took. Returns what was booked (for the audit log)."""
    line = conn.execute(_ANY_LINE, {"rrn": rrn}).first()
    if line is None or line.state != "approved":
        raise CannotSettle("not_approved")
    if conn.execute(_BOOKED, {"ref": rrn}).first() is not None:
        raise CannotSettle("already_booked")
    bill = parse_bill_ref(line.bill_ref or "")
    household_id = conn.execute(_HOUSEHOLD, {"house_no": bill[0]}).scalar() if bill else None
    if bill is None or household_id is None:
        raise CannotSettle("no_household")
    house, periods = bill
    unpaid = {p: a for p, a in conn.execute(_UNPAID, {"hid": household_id, "periods": periods})}
    base = sum(unpaid.values())
    if set(unpaid) != set(periods) or base > line.amount_fen:
        raise CannotSettle("bills_changed")
    if pay_bills(conn, household_id, periods, reference=rrn, paid_at=now) != len(periods):
        raise CannotSettle("bills_changed")
    txn_id = conn.execute(_COPY_TXN, {"rrn": rrn}).scalar() or f"bank-{line.terminal_id.strip()}-{line.batch}-{line.stan}"
    conn.execute(insert(property_ledger).values(
        txn_id=txn_id, kind="payment", household_id=household_id, periods=",".join(periods),
        amount_fen=line.amount_fen, late_fee_fen=line.amount_fen - base, reference=rrn,
        business_day=line.business_day, at=now))
    return {"rrn": rrn, "txn_id": txn_id, "house_no": house, "periods": periods, "amount_fen": line.amount_fen,
            "late_fee_fen": line.amount_fen - base, "business_day": line.business_day.isoformat()}
