"""The bank journal (append-only, masked PANs only), its CSV export for
reconciliation, and the money invariant the tests check."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime

from sqlalchemy import case, func, insert, select
from sqlalchemy.engine import Connection

from host.db import bank_accounts, bank_journal, bank_txns, bills, property_ledger

CSV_COLUMNS = ("line", "business_day", "at", "kiosk_id", "txn_id", "type", "result", "code",
               "masked_pan", "amount_fen", "reference", "auth_code")

_LINE = insert(bank_journal)


def write_line(conn: Connection, *, day: date, at: datetime, kiosk_id: str, txn_id: str, type_: str,
               result: str, code: str | None, masked_pan: str | None, amount_fen: int,
               reference: str | None, auth_code: str | None) -> None:
    conn.execute(_LINE, {"business_day": day, "at": at, "kiosk_id": kiosk_id, "txn_id": txn_id,
                         "type": type_, "result": result, "code": code, "masked_pan": masked_pan,
                         "amount_fen": amount_fen, "reference": reference, "auth_code": auth_code})


def journal_csv(conn: Connection, day: date) -> str:
    """The day's journal, oldest line first; amounts in integer fen."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = conn.execute(
        select(bank_journal.c.id, bank_journal.c.business_day, bank_journal.c.at, bank_journal.c.kiosk_id,
               bank_journal.c.txn_id, bank_journal.c.type, bank_journal.c.result, bank_journal.c.code,
               bank_journal.c.masked_pan, bank_journal.c.amount_fen, bank_journal.c.reference,
               bank_journal.c.auth_code)
        .where(bank_journal.c.business_day == day).order_by(bank_journal.c.id))
    for row in rows:
        values = list(row)
        values[1] = row.business_day.isoformat()
        values[2] = row.at.isoformat(timespec="seconds")
        writer.writerow(["" if v is None else v for v in values])
    return out.getvalue()


def money_totals(conn: Connection) -> dict[str, int]:
    """Every figure in fen. Invariants (tests check them before and after each scenario):
    - bank_balances_fen + journal_net_fen is constant (money only moves, it is never made);
    - journal_net_fen == ledger_fen (the property ledger agrees with the bank journal);
    - ledger_fen - ledger_late_fee_fen == bills_paid_by_card_fen (what card payments settled);
    - bills_paid_fen moves by exactly as much as bills_paid_by_card_fen."""
    net = select(func.coalesce(func.sum(case(
        ((bank_journal.c.type == "sale") & (bank_journal.c.result == "approved"), bank_journal.c.amount_fen),
        ((bank_journal.c.type == "reversal") & (bank_journal.c.result == "reversed"), -bank_journal.c.amount_fen),
        else_=0)), 0))
    captured_refs = select(bank_txns.c.reference).where(bank_txns.c.state == "approved")

    def total(query: object) -> int:
        return int(conn.execute(query).scalar_one())   # type: ignore[call-overload]

    return {
        "bank_balances_fen": total(select(func.coalesce(func.sum(bank_accounts.c.balance_fen), 0))),
        "journal_net_fen": total(net),
        "ledger_fen": total(select(func.coalesce(func.sum(property_ledger.c.amount_fen), 0))),
        "ledger_late_fee_fen": total(select(func.coalesce(func.sum(property_ledger.c.late_fee_fen), 0))),
        "bills_paid_fen": total(select(func.coalesce(func.sum(bills.c.amount_fen), 0))
                                .where(bills.c.paid_at.is_not(None))),
        "bills_paid_by_card_fen": total(select(func.coalesce(func.sum(bills.c.amount_fen), 0))
                                        .where(bills.c.paid_ref.in_(captured_refs))),
    }
