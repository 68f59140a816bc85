"""Pay a household's bill by bank card: swipe, PIN on the encrypting PIN pad,
bank authorisation, receipt. Journal first, reversal when the outcome is
unknown, no new payment while one is unsettled (DESIGN §3). The host session
and the settling task come in through ports (ports.py)."""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from typing import Literal, Protocol

from kiosk.backend_client.bank import PaymentReply, PaymentRequest
from kiosk.devices.ports import CardReader, KeySlot, PaperStatus, PinKey, PinPad, ReceiptPrinter
from kiosk.domain.bill import HouseholdBill
from common.bank_card import CardSwipe
from kiosk.domain.errors import PaymentsSuspended, PrinterFault
from common.money import Money
from kiosk.domain.receipt import Receipt
from kiosk.services.copies import payment_copy
from kiosk.services.journal import Journal
from kiosk.services.ports import PIN_TIMEOUT_S, HostSessionPort, SettlingPort
from kiosk.services.receipts import bill_items, bill_periods, payment_receipt, print_logged

log = logging.getLogger(__name__)


class PaymentBank(Protocol):
    """Who authorises a bill payment: the bank link (BankLink, ISO 8583)."""

    async def pay(self, request: PaymentRequest) -> PaymentReply: ...


# who checks the PIN block: the bank (over the link, its PIK) or the card
# centre debiting the reference bank inside the host (the HTTP channel's PIN key)
PinChecker = Literal["bank", "card_centre"]
PAD_SLOTS: dict[PinChecker, KeySlot] = {"bank": KeySlot.BANK, "card_centre": KeySlot.HOST}


@dataclass(frozen=True)
class PaymentOutcome:
    txn_id: str
    approved: bool
    amount: Money
    masked_pan: str
    reference: str = ""
    auth_code: str = ""
    decline_code: str = ""
    tries_left: int | None = None


class PaymentService:
    def __init__(self, *, kiosk_id: str, estate: str, journal: Journal, bank: PaymentBank,
                 session: HostSessionPort, settling: SettlingPort,
                 reader: CardReader, pinpad: PinPad, printer: ReceiptPrinter,
                 now: Callable[[], datetime]) -> None:
        self.kiosk_id, self.estate = kiosk_id, estate
        self.journal, self.bank = journal, bank
        self.session, self.settling = session, settling
        self.reader, self.pinpad, self.printer = reader, pinpad, printer
        self.now = now

    async def start(self) -> None:
        """Before going into service: anything a crash left in flight is reversed
        (an 'intent' may have reached the bank); the printer made ready."""
        for entry in self.journal.in_state("intent"):
            log.warning("payment %s was in flight at start-up: reversing", entry.txn_id)
            self.journal.set_state(entry.txn_id, "reversing", reason="kiosk restarted")
        await self.printer.prepare()

    @property
    def suspended(self) -> bool:
        """True while a reversal, or a wallet cancel or confirmation, is
        unacknowledged: no new financial transaction may start (DESIGN §3)."""
        return self.settling.suspended

    # --- steps the screens call, one by one -------------------------------------------
    async def paper_status(self) -> PaperStatus:
        try:
            return await self.printer.paper_status()
        except PrinterFault:
            return PaperStatus.OUT   # a silent printer cannot print: same offer as no paper

    def check_can_pay(self) -> None:
        if self.suspended:
            raise PaymentsSuspended("a reversal is pending")

    async def read_card(self, timeout_s: float) -> CardSwipe:
        self.check_can_pay()
        return await self.reader.read_swipe(timeout_s)

    async def collect_pin(self, swipe: CardSwipe, on_key: Callable[[PinKey, int], None], *,
                          checked_by: PinChecker = "bank") -> bytes:
        """The PIN block under the key of whoever checks it: the bank link's
        PIK for a bill payment, the host's PIN key for a wallet load/unload."""
        if checked_by == "bank":
            await self.session.ensure_link_ready()   # BankUnavailable if the front-end is down
        else:
            await self.session.ensure_signed_on()    # HostUnavailable if the host is still down
        return await self.pinpad.collect_pin(PAD_SLOTS[checked_by], swipe.pan, on_key, PIN_TIMEOUT_S)

    async def cancel_devices(self) -> None:
        await asyncio.gather(self.reader.cancel(), self.pinpad.cancel(), return_exceptions=True)

    async def pay(self, bill: HouseholdBill, swipe: CardSwipe, pin_block: bytes) -> PaymentOutcome:
        """Authorise and capture. Raises PaymentsSuspended, HostUnavailable (never
        sent: nothing charged), OutcomeUnknown (a reversal is on its way)."""
        self.check_can_pay()
        now = self.now()
        txn_id = f"{self.kiosk_id}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(3).upper()}"
        amount = bill.total_due
        items = bill_items(bill)
        self.journal.record_intent(
            txn_id, kind="bill_payment", house_no=str(bill.house), amount_fen=amount.fen,
            masked_pan=swipe.masked_pan,
            detail={"items": [[i.label, i.amount.fen] for i in items], "periods": bill_periods(bill),
                    "at": now.isoformat(timespec="seconds")})
        request: PaymentRequest = {
            "txn_id": txn_id, "house_no": str(bill.house), "amount_fen": amount.fen,
            "periods": bill_periods(bill), "pan": swipe.pan, "track2": swipe.track2,
            "expiry": swipe.expiry, "pin_block": pin_block.hex().upper(),
            "local_time": now.isoformat(timespec="seconds")}
        reply = await self.settling.send_journaled(txn_id, lambda: self.bank.pay(request), undo="reversing",
                                                   renewed="working keys renewed: enter the PIN again")
        # the host's business day, not the kiosk's date: a payment sent at 23:59:59
        # and booked after midnight counts on the next day on both sides
        day = {"business_day": str(reply["business_day"])} if reply.get("business_day") else {}
        if reply["result"] == "approved":
            outcome = PaymentOutcome(txn_id, True, amount, swipe.masked_pan,
                                     reference=str(reply.get("reference", "")),
                                     auth_code=str(reply.get("auth_code", "")))
            self.journal.set_state(txn_id, "approved", reference=outcome.reference, auth_code=outcome.auth_code,
                                   **day)
        else:
            outcome = PaymentOutcome(txn_id, False, amount, swipe.masked_pan,
                                     decline_code=str(reply.get("code", "declined")),
                                     tries_left=reply.get("tries_left"))
            self.journal.set_state(txn_id, "declined", code=outcome.decline_code, **day)
        self._queue_backup(txn_id)
        if outcome.approved:
            await self._forward_copy(txn_id)
        return outcome

    # --- receipts -------------------------------------------------------------------
    def receipt_for(self, txn_id: str, *, reprint: bool = False) -> Receipt:
        entry = self.journal.get(txn_id)
        if entry is None:
            raise KeyError(f"no approved payment {txn_id}")
        return payment_receipt(entry, self.estate, self.kiosk_id, reprint=reprint)

    async def print(self, receipt: Receipt) -> bool:
        """True if printed; a failure is logged, never raised (receipts can be reprinted)."""
        return await print_logged(self.printer, receipt)

    async def print_receipt(self, txn_id: str, *, reprint: bool = False) -> bool:
        """True if printed. A failure never touches the payment: the receipt can
        be reprinted from the journal."""
        try:
            await self.printer.print_receipt(self.receipt_for(txn_id, reprint=reprint))
        except PrinterFault as exc:
            log.warning("receipt for %s not printed: %s", txn_id, exc)
            self.journal.set_state(txn_id, "approved", receipt="not_printed")
            return False
        self.journal.set_state(txn_id, "approved", receipt="printed")
        return True

    async def _forward_copy(self, txn_id: str) -> None:
        """The property ledger learns of a bill paid over the bank link only from
        this copy: send it now, before the result screen. Not sent (the host is
        down): it stays queued for the settling task, and meanwhile the kiosk
        shows the household's bill paid (upload pending; bills.py)."""
        try:
            await self.settling.settle_once()
        except Exception:   # the payment stands whatever the copy's fate; the task retries
            log.exception("backup copy of %s not forwarded yet", txn_id)

    def _queue_backup(self, txn_id: str) -> None:
        entry = self.journal.get(txn_id)
        assert entry is not None
        self.journal.queue_backup(txn_id, payment_copy(entry))
        self.settling.wake()
