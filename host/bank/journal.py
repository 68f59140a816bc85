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
from host.schema.bank import bank_accounts, bank_journal, bank_link_journal, bank_link_sessions, property_ledger
from host.schema.cards import card_txns, ic_cards
from host.schema.estate import bills
from host.schema.meters import SOLD, WALLET_PREFIX, meter_sales

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

    Bank card bill payments (docs/payments.md, docs/bank-link.md):
    - bank_balances_fen: Σ bank account balances;
    - journal_net_fen: bill payments captured − reversed: the link's journal
      (`bank_link_journal`: approved purchases, a reversed one no longer
      approved) and, in a database older than the link, the JSON bank's
      `sale`/`reversal` lines of `bank_journal`;
    - ledger_fen / ledger_late_fee_fen: the property ledger's bank-card entries
      (`payment`/`reversal`) and their late-fee part;
    - bills_paid_fen: Σ bills marked paid (by any means: card, wallet, office, seed);
    - bills_paid_by_card_fen: bills paid with a still-captured bank reference
      (a link purchase's RRN, or an old JSON sale not reversed).
    IC wallets (docs/cards.md §5, host.cards):
    - cards_fen: Σ the registry's mirrored ED + EP balances (moved by confirmed
      loads, unloads and purchases only);
    - loads_in_flight_fen: loads authorised and neither confirmed nor cancelled
      (the bank account is debited, the card's credit not yet proven by its TAC);
    - wallet_net_fen: bank journal wallet_load approved − wallet_load_reversal −
      wallet_unload: what the bank has paid out to wallets;
    - wallet_ledger_fen / wallet_ledger_late_fee_fen: the property ledger's
      wallet purchases (`wallet`) and their late-fee part;
    - bills_paid_by_wallet_fen: bills paid with the reference of a completed purchase.
    Prepaid meters (docs/meters.md, host.meters): money out of the bank and the
    wallets into the utilities' takings:
    - meter_bank_net_fen: bank journal meter_sale approved − meter_reversal;
    - meter_wallet_fen: completed wallet purchases of a meter sale;
    - meter_sales_fen: Σ the meter sales sold (paid, written or confirmed),
      meter_by_card_fen those a bank card paid.
    - total_fen = bank_balances + cards + loads_in_flight + ledger + wallet_ledger
      + meter_bank_net + meter_wallet: all the money there is, wherever it sits.

    Invariants (the tests check them before and after each scenario):
    - total_fen is constant (money only moves, it is never made or lost);
    - bank_balances_fen + journal_net_fen + wallet_net_fen + meter_bank_net_fen
      is constant (the bank side);
    - journal_net_fen == ledger_fen (the property ledger agrees with the bank journal);
    - wallet_net_fen moves exactly as cards_fen + loads_in_flight_fen +
      wallet_ledger_fen + meter_wallet_fen;
    - meter_by_card_fen == meter_bank_net_fen and meter_sales_fen ==
      meter_bank_net_fen + meter_wallet_fen (a wallet purchase whose sale could
      no longer be sold breaks the second: staff settle it, host.cards.purchase);
    - ledger_fen - ledger_late_fee_fen == bills_paid_by_card_fen and
      wallet_ledger_fen - wallet_ledger_late_fee_fen == bills_paid_by_wallet_fen;
    - bills_paid_fen moves by exactly as much as bills_paid_by_card_fen + bills_paid_by_wallet_fen."""
    kind, result, amount = bank_journal.c.type, bank_journal.c.result, bank_journal.c.amount_fen

    def journal_sum(*terms: tuple[str, str, int]) -> Select[Any]:
        """Σ ±amount of the bank journal's lines of (type, result, sign)."""
        return select(func.coalesce(func.sum(case(
            *(((kind == t) & (result == r), amount * sign) for t, r, sign in terms), else_=0)), 0))

    json_net = journal_sum(("sale", "approved", 1), ("reversal", "reversed", -1))
    wallet_net = journal_sum((WALLET_LOAD, "approved", 1), (WALLET_LOAD_REVERSAL, "reversed", -1),
                             (WALLET_UNLOAD, "approved", -1))
    meter_bank_net = journal_sum(("meter_sale", "approved", 1), ("meter_reversal", "reversed", -1))
    link = bank_link_journal.c
    link_purchases = (link.kind == "purchase", link.state == "approved")
    link_net = select(func.coalesce(func.sum(link.amount_fen), 0)).where(*link_purchases)
    json_reversed = select(bank_journal.c.txn_id).where(kind == "reversal", result == "reversed")
    captured_refs = select(bank_journal.c.reference).where(
        kind == "sale", result == "approved", bank_journal.c.txn_id.not_in(json_reversed)).union(
        select(link.rrn).where(*link_purchases))
    purchase_refs = select(card_txns.c.reference).where(card_txns.c.kind == "purchase",
                                                        card_txns.c.state == "completed")
    meter_sold = meter_sales.c.state.in_(SOLD)

    def total(query: Select[Any]) -> int:
        return int(conn.execute(query).scalar_one())

    def ledger(column: ColumnElement[int], *kinds: str) -> int:
        return total(select(func.coalesce(func.sum(column), 0)).where(property_ledger.c.kind.in_(kinds)))

    def paid_bills(*conditions: ColumnElement[bool]) -> int:
        return total(select(func.coalesce(func.sum(bills.c.amount_fen), 0)).where(*conditions))

    def sold(*conditions: ColumnElement[bool]) -> int:
        return total(select(func.coalesce(func.sum(meter_sales.c.amount_fen), 0)).where(meter_sold, *conditions))

    totals = {
        "bank_balances_fen": total(select(func.coalesce(func.sum(bank_accounts.c.balance_fen), 0))),
        "journal_net_fen": total(json_net) + total(link_net),
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
        "meter_bank_net_fen": total(meter_bank_net),
        "meter_wallet_fen": total(select(func.coalesce(func.sum(card_txns.c.amount_fen), 0)).where(
            card_txns.c.kind == "purchase", card_txns.c.state == "completed",
            card_txns.c.periods.startswith(WALLET_PREFIX, autoescape=True))),
        "meter_sales_fen": sold(),
        "meter_by_card_fen": sold(meter_sales.c.account_id.is_not(None)),
    }
    totals["total_fen"] = (totals["bank_balances_fen"] + totals["cards_fen"] + totals["loads_in_flight_fen"]
                           + totals["ledger_fen"] + totals["wallet_ledger_fen"]
                           + totals["meter_bank_net_fen"] + totals["meter_wallet_fen"])
    return totals
