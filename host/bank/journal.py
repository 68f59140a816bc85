"""The bank journal (append-only, masked PANs only: the card centre's wallet
lines), the CSV export of the bank's day (the bank link's journal and the
wallet lines) for reconciliation, and the money invariants the tests check (bank, property
ledger and the card centre's IC wallets)."""
from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, insert, select
from sqlalchemy.engine import Connection

from host import csv_cells
from host.schema.bank import (bank_accounts, bank_journal, bank_link_journal, bank_link_sessions, bank_txns,
                              property_ledger)
from host.schema.cards import card_txns, ic_cards
from host.schema.estate import bills

CSV_COLUMNS = ("line", "business_day", "at", "kiosk_id", "terminal_id", "batch", "stan", "txn_id", "type",
               "result", "code", "masked_pan", "amount_fen", "reference", "auth_code", "bill_ref", "reversed_at",
               "reversal_code")
# the bank's money lines that are not the link's: the card centre's wallet legs (host.cards, host.onecard)
_WALLET_LINES = ("wallet_load", "wallet_load_reversal", "wallet_unload")

_LINE = insert(bank_journal)


def write_line(conn: Connection, *, day: date, at: datetime, kiosk_id: str, txn_id: str, type_: str,
               result: str, code: str | None, masked_pan: str | None, amount_fen: int,
               reference: str | None, auth_code: str | None) -> None:
    conn.execute(_LINE, {"business_day": day, "at": at, "kiosk_id": kiosk_id, "txn_id": txn_id,
                         "type": type_, "result": result, "code": code, "masked_pan": masked_pan,
                         "amount_fen": amount_fen, "reference": reference, "auth_code": auth_code})


def journal_csv(conn: Connection, day: date) -> str:
    """The bank's journal of a business day, oldest first: every line of the
    bank link's journal (purchases, balance inquiries, PIN changes; a purchase
    reversed keeps its line, `result` reversed, with the reversal's time and
    code), then the card centre's wallet lines (loads, their reversals,
    unloads). Amounts in integer fen; `line` numbers the file. Text cells a
    spreadsheet would take for a formula (a terminal's bill reference) are
    quoted."""
    out = io.StringIO()
    writer = csv_cells.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    j, s = bank_link_journal.c, bank_link_sessions.c
    link = conn.execute(
        select(j.business_day, j.created_at, s.kiosk_id, j.terminal_id, j.batch, j.stan, j.kind, j.state, j.code,
               j.masked_pan, j.amount_fen, j.rrn, j.auth_code, j.bill_ref, j.reversed_at, j.reversal_code)
        .select_from(bank_link_journal.outerjoin(bank_link_sessions, s.terminal_id == j.terminal_id))
        .where(j.business_day == day).order_by(j.id))
    rows: list[list[Any]] = []
    for r in link:
        rows.append([r.business_day.isoformat(), r.created_at.isoformat(timespec="seconds"), r.kiosk_id,
                     r.terminal_id.strip(), r.batch, r.stan, None, r.kind, r.state, r.code, r.masked_pan,
                     r.amount_fen, (r.rrn or "").strip() or None, r.auth_code, r.bill_ref,
                     r.reversed_at.isoformat(timespec="seconds") if r.reversed_at else None, r.reversal_code])
    b = bank_journal.c
    wallet = conn.execute(
        select(b.business_day, b.at, b.kiosk_id, b.txn_id, b.type, b.result, b.code, b.masked_pan, b.amount_fen,
               b.reference, b.auth_code)
        .where(b.business_day == day, b.type.in_(_WALLET_LINES)).order_by(b.id))
    for r in wallet:
        rows.append([r.business_day.isoformat(), r.at.isoformat(timespec="seconds"), r.kiosk_id, None, None, None,
                     r.txn_id, r.type, r.result, r.code, r.masked_pan, r.amount_fen, r.reference, r.auth_code,
                     None, None, None])
    for n, values in enumerate(rows, 1):
        writer.writerow([n, *("" if v is None else v for v in values)])
    return out.getvalue()


# bank journal line types of the card centre (host.cards): money between a bank
# account and an IC wallet
WALLET_LOAD, WALLET_LOAD_REVERSAL, WALLET_UNLOAD = "wallet_load", "wallet_load_reversal", "wallet_unload"


def money_totals(conn: Connection) -> dict[str, int]:
    """Every figure in fen, as the host knows it at this moment.

    Bank card payments (docs/payments.md):
    - bank_balances_fen: Σ bank account balances;
    - journal_net_fen: bill payments captured − reversed (bank journal `sale`/`reversal`);
    - ledger_fen / ledger_late_fee_fen: the property ledger's bank-card entries
      (`payment`/`reversal`) and their late-fee part;
    - bills_paid_fen: Σ bills marked paid (by any means: card, wallet, office, seed);
    - bills_paid_by_card_fen: bills paid with a still-captured bank reference.
    IC wallets (docs/cards.md §5, host.cards):
    - cards_fen: Σ the registry's mirrored ED + EP balances (moved by confirmed
      loads, unloads and purchases only);
    - loads_in_flight_fen: loads authorised and neither confirmed nor cancelled
      (the bank account is debited, the card's credit not yet proven by its TAC);
    - wallet_net_fen: bank journal wallet_load approved − wallet_load_reversal −
      wallet_unload: what the bank has paid out to wallets;
    - wallet_ledger_fen / wallet_ledger_late_fee_fen: the property ledger's
      wallet purchases (`wallet`) and their late-fee part;
    - bills_paid_by_wallet_fen: bills paid with the reference of a completed purchase;
    - total_fen = bank_balances + cards + loads_in_flight + ledger + wallet_ledger:
      all the money there is, wherever it sits.

    Invariants (the tests check them before and after each scenario):
    - total_fen is constant (money only moves, it is never made or lost);
    - bank_balances_fen + journal_net_fen + wallet_net_fen is constant (the bank side);
    - journal_net_fen == ledger_fen (the property ledger agrees with the bank journal);
    - wallet_net_fen moves exactly as cards_fen + loads_in_flight_fen + wallet_ledger_fen;
    - ledger_fen - ledger_late_fee_fen == bills_paid_by_card_fen and
      wallet_ledger_fen - wallet_ledger_late_fee_fen == bills_paid_by_wallet_fen;
    - bills_paid_fen moves by exactly as much as bills_paid_by_card_fen + bills_paid_by_wallet_fen."""
    kind, result, amount = bank_journal.c.type, bank_journal.c.result, bank_journal.c.amount_fen
    net = select(func.coalesce(func.sum(case(
        ((kind == "sale") & (result == "approved"), amount),
        ((kind == "reversal") & (result == "reversed"), -amount),
        else_=0)), 0))
    wallet_net = select(func.coalesce(func.sum(case(
        ((kind == WALLET_LOAD) & (result == "approved"), amount),
        ((kind == WALLET_LOAD_REVERSAL) & (result == "reversed"), -amount),
        ((kind == WALLET_UNLOAD) & (result == "approved"), -amount),
        else_=0)), 0))
    # bill payments over the bank link: approved purchases not reversed (bank_link_journal)
    link_net = select(func.coalesce(func.sum(bank_link_journal.c.amount_fen), 0)).where(
        bank_link_journal.c.kind == "purchase", bank_link_journal.c.state == "approved")
    captured_refs = select(bank_txns.c.reference).where(bank_txns.c.state == "approved").union(
        select(bank_link_journal.c.rrn).where(bank_link_journal.c.kind == "purchase",
                                              bank_link_journal.c.state == "approved"))
    purchase_refs = select(card_txns.c.reference).where(card_txns.c.kind == "purchase",
                                                        card_txns.c.state == "completed")

    def total(query: Select[Any]) -> int:
        return int(conn.execute(query).scalar_one())

    def ledger(column: ColumnElement[int], *kinds: str) -> int:
        return total(select(func.coalesce(func.sum(column), 0)).where(property_ledger.c.kind.in_(kinds)))

    def paid_bills(*conditions: ColumnElement[bool]) -> int:
        return total(select(func.coalesce(func.sum(bills.c.amount_fen), 0)).where(*conditions))

    totals = {
        "bank_balances_fen": total(select(func.coalesce(func.sum(bank_accounts.c.balance_fen), 0))),
        "journal_net_fen": total(net) + total(link_net),
        "ledger_fen": ledger(property_ledger.c.amount_fen, "payment", "reversal"),
        "ledger_late_fee_fen": ledger(property_ledger.c.late_fee_fen, "payment", "reversal"),
        "bills_paid_fen": paid_bills(bills.c.paid_at.is_not(None)),
        "bills_paid_by_card_fen": paid_bills(bills.c.paid_ref.in_(captured_refs)),
        "cards_fen": total(select(func.coalesce(func.sum(ic_cards.c.ed_fen + ic_cards.c.ep_fen), 0))),
        "loads_in_flight_fen": total(select(func.coalesce(func.sum(card_txns.c.amount_fen), 0))
                                     .where(card_txns.c.kind == "load", card_txns.c.state == "authorised")),
        "wallet_net_fen": total(wallet_net),
        "wallet_ledger_fen": ledger(property_ledger.c.amount_fen, "wallet"),
        "wallet_ledger_late_fee_fen": ledger(property_ledger.c.late_fee_fen, "wallet"),
        "bills_paid_by_wallet_fen": paid_bills(bills.c.paid_ref.in_(purchase_refs)),
    }
    totals["total_fen"] = (totals["bank_balances_fen"] + totals["cards_fen"] + totals["loads_in_flight_fen"]
                           + totals["ledger_fen"] + totals["wallet_ledger_fen"])
    return totals
