"""The receipt of a transfer, from its journal entry alone (so it can be
printed again): both cards masked (a CPU card's serial, a one-card's UID:
the last 4 only), the amount, each card's balance after."""
from __future__ import annotations

from datetime import datetime

from common.money import Money
from kiosk.domain.receipt import Receipt, ReceiptItem
from kiosk.i18n import tr
from kiosk.services.journal import JournalEntry
from kiosk.services.journal_transfers import TRANSFER_KIND
from kiosk.services.receipts import RECEIPT_LANGUAGE


def masked_card(card: dict[str, object]) -> str:
    number = str(card.get("card", ""))
    return f"{tr('transfer.kind.' + str(card.get('kind') or 'cpu'), RECEIPT_LANGUAGE)} ****{number[-4:]}" \
        if number else "—"


def transfer_receipt(entry: JournalEntry, estate: str, kiosk_id: str, *, reprint: bool = False) -> Receipt:
    """The receipt of a completed transfer (or one whose last proof is still owed to the host)."""
    if entry.kind != TRANSFER_KIND or entry.state not in ("completed", "confirming"):
        raise KeyError(f"no completed transfer {entry.txn_id}")
    d, lang = entry.detail, RECEIPT_LANGUAGE
    extra = [f"{tr('transfer.receipt.from', lang)}: {masked_card(d['src'])}",
             f"{tr('transfer.receipt.to', lang)}: {masked_card(d['dst'])}"]
    for side, key in (("src_balance_after", "transfer.receipt.from_balance"),
                      ("dst_balance_after", "transfer.receipt.to_balance")):
        if side in d:
            extra.append(f"{tr(key, lang)}: {Money(int(d[side])).yuan}")
    return Receipt(estate=estate, kiosk_id=kiosk_id, when=datetime.fromisoformat(str(d.get("at", entry.created_at))),
                   house_no="", items=(ReceiptItem(tr("transfer.receipt.item", lang), Money(entry.amount_fen)),),
                   total=Money(entry.amount_fen), masked_pan="", txn_id=entry.txn_id,
                   reference=str(d.get("reference", "")), auth_code="", reprint=reprint,
                   title=tr("transfer.receipt.title", lang), extra=tuple(extra))


def bank_pair_receipt(entry: JournalEntry, estate: str, kiosk_id: str, *, reprint: bool = False) -> Receipt:
    """A bank pair's receipt, as a transfer's: from the wallet's load / unload entry or the
    one-card's load entry (transfer_bank.py), both cards masked, the IC card's balance after."""
    if entry.state not in ("completed", "confirming"):
        raise KeyError(f"no completed transfer {entry.txn_id}")
    d, lang = entry.detail, RECEIPT_LANGUAGE
    if entry.kind == "onecard_load":
        ic, after = {"kind": "onecard", "card": d.get("uid", "")}, d.get("balance_after")
    elif entry.kind in ("wallet_load", "wallet_unload"):
        ic, after = {"kind": "cpu", "card": d.get("serial", "")}, d.get("new_balance")
    else:
        raise KeyError(f"no bank pair {entry.txn_id}")
    bank = f"{tr('transfer.kind.bank', lang)} {entry.masked_pan}"
    src, dst = (masked_card(ic), bank) if entry.kind == "wallet_unload" else (bank, masked_card(ic))
    extra = [f"{tr('transfer.receipt.from', lang)}: {src}", f"{tr('transfer.receipt.to', lang)}: {dst}"]
    if after is not None:
        key = "transfer.receipt.from_balance" if entry.kind == "wallet_unload" else "transfer.receipt.to_balance"
        extra.append(f"{tr(key, lang)}: {Money(int(after)).yuan}")
    return Receipt(estate=estate, kiosk_id=kiosk_id, when=datetime.fromisoformat(str(d.get("at", entry.created_at))),
                   house_no="", items=(ReceiptItem(tr("transfer.receipt.item", lang), Money(entry.amount_fen)),),
                   total=Money(entry.amount_fen), masked_pan=entry.masked_pan, txn_id=entry.txn_id,
                   reference=str(d.get("reference", "")), auth_code="", reprint=reprint,
                   title=tr("transfer.receipt.title", lang), extra=tuple(extra))
