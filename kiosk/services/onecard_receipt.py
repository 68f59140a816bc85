"""The receipt of a one-card operation (a load from a bank card, a bill paid
from the card), from its journal entry alone so it can be printed again: the
one-card by its masked UID, the bank card masked, the amount, the purse after."""
from __future__ import annotations

from datetime import datetime

from common.money import Money
from kiosk.domain.receipt import Receipt, ReceiptItem
from kiosk.i18n import tr
from kiosk.services.journal import JournalEntry
from kiosk.services.journal_onecard import ONECARD_KINDS
from kiosk.services.receipts import RECEIPT_LANGUAGE


def masked_uid(uid: str) -> str:
    """A one-card as receipts and screens name it: the UID's last 4 digits."""
    return f"****{uid[-4:]}" if uid else ""


def onecard_receipt(entry: JournalEntry, estate: str, kiosk_id: str, *, reprint: bool = False) -> Receipt:
    """The receipt of a one-card operation the card holds (completed, or its
    confirm still owed to the host)."""
    if entry.kind not in ONECARD_KINDS or entry.state not in ("completed", "confirming"):
        raise KeyError(f"no completed one-card operation {entry.txn_id}")
    d, lang = entry.detail, RECEIPT_LANGUAGE
    label = tr(f"onecard.receipt.item.{entry.kind}", lang)
    extra = (f"{tr('onecard.receipt.card', lang)}: {masked_uid(str(d.get('uid', '')))}",
             f"{tr('onecard.receipt.balance', lang)}: {Money(int(d['balance_after'])).yuan}")
    return Receipt(estate=estate, kiosk_id=kiosk_id, when=datetime.fromisoformat(str(d["at"])),
                   house_no=entry.house_no, items=(ReceiptItem(label, Money(entry.amount_fen)),),
                   total=Money(entry.amount_fen), masked_pan=entry.masked_pan, txn_id=entry.txn_id,
                   reference=str(d.get("reference", "")), auth_code="", reprint=reprint,
                   title=tr(f"onecard.receipt.title.{entry.kind}", lang), extra=extra)
