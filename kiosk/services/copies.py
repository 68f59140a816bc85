"""The backup copy of a finished transaction for the property host (store and
forward, DESIGN §3), made from its journal entry alone: a bill payment's and
a wallet transaction's. The settling task sends them (settling.py)."""
from __future__ import annotations

from kiosk.backend_client.bank import BackupCopy
from kiosk.services.journal import JournalEntry


def payment_copy(entry: JournalEntry) -> BackupCopy:
    copy: BackupCopy = {
        "txn_id": entry.txn_id, "house_no": entry.house_no, "amount_fen": entry.amount_fen,
        "masked_pan": entry.masked_pan, "result": entry.state,
        "reference": entry.detail.get("reference", ""), "auth_code": entry.detail.get("auth_code", ""),
        "at": entry.detail.get("at", entry.created_at)}
    if "business_day" in entry.detail:
        copy["business_day"] = entry.detail["business_day"]
    return copy


def wallet_copy(entry: JournalEntry) -> BackupCopy:
    return {
        "txn_id": entry.txn_id, "kind": entry.kind, "house_no": entry.house_no or None,
        "amount_fen": entry.amount_fen, "masked_pan": entry.masked_pan or None, "result": entry.state,
        "reference": entry.detail.get("reference") or None, "wallet": entry.detail.get("wallet"),
        "card": entry.detail.get("serial"), "at": entry.detail.get("at", entry.created_at)}
