"""Pay a household's bill by bank card: swipe, PIN on the encrypting PIN pad,
bank authorisation, receipt. Journal first, reversal when the outcome is
unknown, no new payment while one is unsettled (DESIGN §3)."""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from kiosk.backend_client.bank import BankClient
from kiosk.backend_client.signed import NotSignedOn
from kiosk.devices.ports import CardReader, PaperStatus, PinKey, PinPad, ReceiptPrinter
from kiosk.domain.bill import HouseholdBill
from common.bank_card import CardSwipe
from kiosk.domain.errors import (HostError, HostUnavailable, KioskError, OutcomeUnknown, PaymentsSuspended,
                                 PrinterFault)
from common.money import Money
from kiosk.domain.receipt import Receipt, ReceiptItem
from kiosk.i18n import tr
from kiosk.services.journal import Journal, JournalEntry

log = logging.getLogger(__name__)

T = TypeVar("T")

RECEIPT_LANGUAGE = "zh"   # receipts are printed in Chinese (GB18030)
# journal states that hold new financial transactions back until acknowledged
UNSETTLED = ("reversing", "cancelling", "confirming")
AWAITING_NEWS = ("left_pending",)   # not blocking, but a settler asks the host what became of them


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


class PaymentService:
    PIN_TIMEOUT_S = 60.0
    MAX_BACKOFF_S = 30.0
    IDLE_PASS_S = 60.0   # a pass even when nothing woke it: news of what was left pending comes from the host

    def __init__(self, *, kiosk_id: str, estate: str, journal: Journal, bank: BankClient,
                 reader: CardReader, pinpad: PinPad, printer: ReceiptPrinter,
                 now: Callable[[], datetime], first_backoff_s: float = 0.5) -> None:
        self.kiosk_id, self.estate = kiosk_id, estate
        self.journal, self.bank = journal, bank
        self.reader, self.pinpad, self.printer = reader, pinpad, printer
        self.now = now
        self._first_backoff_s = first_backoff_s
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._sign_on_lock = asyncio.Lock()
        self._settle_lock = asyncio.Lock()   # one settling pass at a time: each reversal is sent once
        self._settlers: list[Callable[[], Awaitable[bool]]] = []
        self.signed_on = False

    # --- life cycle ----------------------------------------------------------------
    async def start(self) -> None:
        """Resolve anything left in flight by a crash before going into service:
        an 'intent' may have reached the bank, so it is reversed."""
        for entry in self.journal.in_state("intent"):
            log.warning("payment %s was in flight at start-up: reversing", entry.txn_id)
            self.journal.set_state(entry.txn_id, "reversing", reason="kiosk restarted")
        await self.printer.prepare()
        try:
            await self.sign_on()
        except KioskError as exc:  # host down: the workers keep trying
            log.warning("sign-on at start failed: %s", exc)
        self._workers = [asyncio.create_task(self._settle_loop())]
        await self.settle_once()

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    async def sign_on(self) -> None:
        async with self._sign_on_lock:
            keys = await self.bank.sign_on()
            await self.pinpad.load_pin_key(keys.pin_key_wrapped, keys.pin_kcv)
            self.signed_on = True

    @property
    def suspended(self) -> bool:
        """True while a reversal, or a wallet cancel or confirmation, is
        unacknowledged: no new financial transaction may start (DESIGN §3)."""
        return bool(self.journal.in_state(*UNSETTLED))

    def add_settler(self, settle: Callable[[], Awaitable[bool]]) -> None:
        """Another service's unacknowledged messages, sent by the same settling
        task (after reversals, before backup copies); True when none is left."""
        self._settlers.append(settle)

    def wake_settler(self) -> None:
        self._wake.set()

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

    async def collect_pin(self, swipe: CardSwipe, on_key: Callable[[PinKey, int], None]) -> bytes:
        if not self.signed_on:
            await self.sign_on()   # HostUnavailable if the host is still down
        return await self.pinpad.collect_pin(swipe.pan, on_key, self.PIN_TIMEOUT_S)

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
        fields = {"txn_id": txn_id, "house_no": str(bill.house), "amount_fen": amount.fen,
                  "periods": bill_periods(bill), "pan": swipe.pan, "track2": swipe.track2,
                  "expiry": swipe.expiry, "pin_block": pin_block.hex().upper(),
                  "local_time": now.isoformat(timespec="seconds")}
        try:
            reply = await self.bank.pay(fields)
        except NotSignedOn as exc:
            # the host changed nothing; new working keys mean a new PIN key, so the
            # PIN block we hold is void: sign on and ask for the PIN again
            self.journal.set_state(txn_id, "not_sent", reason="working keys renewed")
            self.signed_on = False
            await self.sign_on()
            raise HostUnavailable("working keys renewed: enter the PIN again") from exc
        except HostUnavailable:
            self.journal.set_state(txn_id, "not_sent")
            raise
        except (OutcomeUnknown, HostError) as exc:
            self.journal.set_state(txn_id, "reversing", reason=str(exc.detail)[:200])
            self._wake.set()
            raise OutcomeUnknown(exc.detail) from exc
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
        return outcome

    async def with_sign_on(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except NotSignedOn:   # the host changed nothing: sign on and send once more
            await self.sign_on()
            return await call()

    # --- receipts -------------------------------------------------------------------
    def receipt_for(self, txn_id: str, *, reprint: bool = False) -> Receipt:
        entry = self.journal.get(txn_id)
        if entry is None or entry.state != "approved":
            raise KeyError(f"no approved payment {txn_id}")
        return Receipt(
            estate=self.estate, kiosk_id=self.kiosk_id,
            when=datetime.fromisoformat(entry.detail["at"]), house_no=entry.house_no,
            items=tuple(ReceiptItem(label, Money(fen)) for label, fen in entry.detail["items"]),
            total=Money(entry.amount_fen), masked_pan=entry.masked_pan, txn_id=txn_id,
            reference=entry.detail.get("reference", ""), auth_code=entry.detail.get("auth_code", ""),
            reprint=reprint)

    async def print(self, receipt: Receipt) -> bool:
        """True if printed; a failure is logged, never raised (receipts can be reprinted)."""
        try:
            await self.printer.print_receipt(receipt)
        except PrinterFault as exc:
            log.warning("receipt for %s not printed: %s", receipt.txn_id, exc)
            return False
        return True

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

    # --- settling: reversals and backup copies, retried with back-off ------------------
    def _queue_backup(self, txn_id: str) -> None:
        entry = self.journal.get(txn_id)
        assert entry is not None
        self.journal.queue_backup(txn_id, {
            "txn_id": txn_id, "house_no": entry.house_no, "amount_fen": entry.amount_fen,
            "masked_pan": entry.masked_pan, "result": entry.state,
            "reference": entry.detail.get("reference", ""), "auth_code": entry.detail.get("auth_code", ""),
            "at": entry.detail.get("at", entry.created_at),
            **({"business_day": entry.detail["business_day"]} if "business_day" in entry.detail else {})})
        self._wake.set()

    async def settle_once(self) -> bool:
        """Send pending reversals, then backup copies. True when nothing is left."""
        async with self._settle_lock:
            return await self._settle()

    async def _settle(self) -> bool:
        reversals, backups = self.journal.in_state("reversing"), self.journal.unsent_backups()
        if not reversals and not backups and not self.journal.in_state(*UNSETTLED, *AWAITING_NEWS):
            return True
        if not self.signed_on:   # e.g. started while the host was down
            try:
                await self.sign_on()
            except KioskError as exc:
                log.info("not signed on yet, %d reversal(s) waiting: %s", len(reversals), exc)
                return False
        for entry in reversals:
            if not await self._reverse(entry):
                return False
        for settle in self._settlers:
            if not await settle():
                return False
        for txn_id, payload in self.journal.unsent_backups():
            try:
                await self.with_sign_on(lambda: self.bank.send_backup(payload))
            except KioskError as exc:
                log.info("backup copy of %s not sent yet: %s", txn_id, exc)
                return False
            self.journal.mark_backup_sent(txn_id)
        return True

    async def _reverse(self, entry: JournalEntry) -> bool:
        try:
            status = await self.with_sign_on(
                lambda: self.bank.reverse(entry.txn_id, entry.amount_fen, entry.detail.get("reason", "")))
        except KioskError as exc:
            log.info("reversal of %s not acknowledged yet: %s", entry.txn_id, exc)
            return False
        self.journal.set_state(entry.txn_id, "reversed", reversal=status)
        self._queue_backup(entry.txn_id)
        log.warning("payment %s reversed (%s)", entry.txn_id, status)
        return True

    async def _settle_loop(self) -> None:
        backoff = self._first_backoff_s
        while True:
            self._wake.clear()   # before the pass: a wake during it must not be lost
            try:
                done = await self.settle_once()
            except Exception:    # this task must outlive any surprise: money waits on it
                log.exception("settling failed; retrying")
                done = False
            backoff = self._first_backoff_s if done else min(backoff * 2, self.MAX_BACKOFF_S)
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the
                # cancellation of stop() and this task would live on
                async with asyncio.timeout(self.IDLE_PASS_S if done else backoff):
                    await self._wake.wait()
            except TimeoutError:
                pass
