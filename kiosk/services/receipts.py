"""What a receipt says, from the bill or the journal entry alone (so a receipt
can be printed again later): a bill payment's by bank card, and a wallet
transaction's (load, unload, a bill paid from the card); and printing one."""
from __future__ import annotations

import logging
from datetime import datetime

from kiosk.devices.ports import ReceiptPrinter
from kiosk.domain.bill import HouseholdBill
from kiosk.domain.errors import PrinterFault
from common.money import Money
from kiosk.domain.receipt import Receipt, ReceiptItem
from kiosk.i18n import tr
from kiosk.services.journal import JournalEntry
from kiosk.services.wallet_view import KIND

log = logging.getLogger(__name__)

RECEIPT_LANGUAGE = "zh"   # receipts are printed in Chinese (GB18030)


def bill_items(bill: HouseholdBill) -> list[ReceiptItem]:
    """What the payment covers, line by line, as the receipt shows it."""
    items: list[ReceiptItem] = []
    if bill.current is not None and not bill.current.paid:
        for line in bill.current.lines:
            items.append(ReceiptItem(f"{tr(f'utility.{line.utility}', RECEIPT_LANGUAGE)} {bill.current.period}",
                                     line.amount))
    for arrear in bill.arrears:
        items.append(ReceiptItem(f"{tr('receipt.arrear', RECEIPT_LANGUAGE)} {arrear.period}", arrear.amount))
    if bill.late_fee:
        items.append(ReceiptItem(tr("bill.late_fee", RECEIPT_LANGUAGE), bill.late_fee))
    return items


def bill_periods(bill: HouseholdBill) -> list[str]:
    periods = [a.period for a in bill.arrears]
    if bill.current is not None and not bill.current.paid:
        periods.append(bill.current.period)
    return periods


def payment_receipt(entry: JournalEntry, estate: str, kiosk_id: str, *, reprint: bool = False) -> Receipt:
    """The receipt of an approved bill payment."""
    if entry.state != "approved":
        raise KeyError(f"no approved payment {entry.txn_id}")
    return Receipt(
        estate=estate, kiosk_id=kiosk_id,
        when=datetime.fromisoformat(entry.detail["at"]), house_no=entry.house_no,
        items=tuple(ReceiptItem(label, Money(fen)) for label, fen in entry.detail["items"]),
        total=Money(entry.amount_fen), masked_pan=entry.masked_pan, txn_id=entry.txn_id,
        reference=entry.detail.get("reference", ""), auth_code=entry.detail.get("auth_code", ""),
        reprint=reprint)


def wallet_receipt(entry: JournalEntry, estate: str, kiosk_id: str, *, reprint: bool = False) -> Receipt:
    """The receipt of a written wallet transaction."""
    if entry.kind not in KIND.values() or entry.state not in ("completed", "confirming"):
        raise KeyError(f"no completed wallet transaction {entry.txn_id}")
    d, lang = entry.detail, RECEIPT_LANGUAGE
    wallet_name = tr("wallet." + d["wallet"], lang)
    extra = (f"{tr('wallet.receipt.card', lang)}: {d['serial']}",
             f"{tr('wallet.receipt.balance', lang, wallet=wallet_name)}: {Money(int(d['new_balance'])).yuan}")
    return Receipt(estate=estate, kiosk_id=kiosk_id, when=datetime.fromisoformat(d["at"]),
                   house_no=entry.house_no,
                   items=tuple(ReceiptItem(label, Money(fen)) for label, fen in d["items"]),
                   total=Money(entry.amount_fen), masked_pan=entry.masked_pan, txn_id=entry.txn_id,
                   reference=d.get("reference", ""), auth_code="", reprint=reprint,
                   title=tr(f"wallet.receipt.title.{entry.kind}", lang), extra=extra)


async def print_logged(printer: ReceiptPrinter, receipt: Receipt) -> bool:
    """True if printed; a failure is logged, never raised (receipts can be reprinted)."""
    try:
        await printer.print_receipt(receipt)
    except PrinterFault as exc:
        log.warning("receipt for %s not printed: %s", receipt.txn_id, exc)
        return False
    return True
