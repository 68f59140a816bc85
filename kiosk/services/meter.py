"""Prepaid meters (购电 / 购水 / 购气, docs/meters.md "The kiosk"): read the
meter user card, the vending host's check, a quote, payment by bank card, the
secure write, the host's confirm, the receipt. The kiosk holds no meter key:
the host checks the card's MACs, signs the image and answers each write MAC.

Journal first (journal_meters.py): the intent before authorise leaves, its
outcome after, through SettlingService.send_journaled (an unknown outcome is
cancelled at the host until acknowledged). The tear rule: a card that leaves
during the write keeps its sale at the host, and the next read of that card at
any kiosk writes it (the host answers `pending`); the money goes back only when
the card provably lacks the sale (a cancel with EF 01 read after a fresh GET
CHALLENGE: `abandon`). Card I/O is in meter_card.py, the types in meter_view.py."""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from common.bank_card import CardSwipe
from common.money import Money
from kiosk.backend_client.meters import (AuthoriseRequest, CheckReply, CheckRequest, MeterClient,
                                         WalletAuthoriseRequest)
from kiosk.devices.ports import IcReader, ReceiptPrinter
from kiosk.domain.errors import (CardFault, CardRemoved, HostRejected, KioskError, MeterCardTorn, MeterMacInvalid,
                                 MeterNoChallenge, MeterNumberNeeded, MeterWriteDenied, NotTheSameCard, PaymentsSuspended, ReaderFault)
from kiosk.domain.receipt import Receipt
from kiosk.services.journal import Journal
from kiosk.services.journal_meters import METER_UNSETTLED
from kiosk.services.meter_card import proof_of_absence, read_files, write_image
from kiosk.services.meter_view import MeterOutcome, MeterQuote, MeterView, meter_receipt, refusal, units
from kiosk.services.ports import HostSessionPort, SettlingPort
from kiosk.services.receipts import print_logged

log = logging.getLogger(__name__)

class WalletPaid(Protocol):
    """What the wallet's purchase answers (WalletOutcome)."""
    @property
    def txn_id(self) -> str: ...

    @property
    def approved(self) -> bool: ...

    @property
    def decline_code(self) -> str: ...

    @property
    def tries_left(self) -> int | None: ...


WalletPay = Callable[[str, Money, str, list[list[str | int]]], Awaitable[WalletPaid]]
_CARD_REFUSALS = ("foreign_meter", "bad_card_mac", "lost_card", "stale_card")
SIGN_TIMEOUT_S = 30.0


class MeterService:
    def __init__(self, *, kiosk_id: str, estate: str, journal: Journal, client: MeterClient,
                 session: HostSessionPort, settling: SettlingPort, reader: Callable[[str], IcReader],
                 printer: ReceiptPrinter, now: Callable[[], datetime]) -> None:
        self.kiosk_id, self.estate = kiosk_id, estate
        self.journal, self.client, self.session, self.settling = journal, client, session, settling
        self._reader, self.printer, self._now = reader, printer, now
        settling.add_settler(self.settle_once)

    # --- life cycle -------------------------------------------------------------------
    def recover_at_start(self) -> None:
        """Before the settling task (and before payments' own recovery): an
        authorise a crash left in flight is cancelled at the host (no write MAC
        was asked for, so no card holds it); a sale paid or written but not
        confirmed stays with the host, settled by the next read of its card."""
        for entry in self.journal.meter_sales_in("intent"):
            self.journal.set_meter_state(entry.sale_id, "cancelling", reason="kiosk restarted")
        for entry in self.journal.meter_sales_in("paid"):
            self.journal.set_meter_state(entry.sale_id, "torn", reason="kiosk restarted during the write")
        for entry in self.journal.meter_sales_in("written"):
            self.journal.set_meter_state(entry.sale_id, "confirming")

    def check_can_pay(self) -> None:
        if self.settling.suspended or self.journal.meter_sales_in(*METER_UNSETTLED):
            raise PaymentsSuspended("a reversal, cancel or confirmation is pending")

    # --- read the card -----------------------------------------------------------------
    async def read(self, reader: str = "contact", meter: str | None = None) -> MeterView:
        """The card in `reader` as the host checks it. A sale of this meter left
        unwritten (a tear, here or at another kiosk) is written now. Raises the
        card's refusals (MeterCardLost, MeterForeign, MeterCardRejected); a card
        that cannot be sold onto now comes back with `refusal` set. A blank card
        read without `meter` raises MeterNumberNeeded (ask for the number)."""
        device = self._reader(reader)
        resolved = None
        for _ in range(2):     # the second pass reads the card after a pending sale was written
            ef01, ef02 = await asyncio.to_thread(read_files, device)
            if meter is None and not any(ef01):    # blank: the host needs the number printed on it
                raise MeterNumberNeeded("blank_card")
            reply = await self._check({"ef01": ef01.hex().upper(), "ef02": ef02.hex().upper(),
                                       **({"meter": meter} if meter else {})})
            pending = reply.get("pending")
            if reply["result"] != "pending" or pending is None:
                return MeterView.of(reader, reply, ef01, ef02, resolved)
            await self._finish(reader, pending["sale_id"], bytes.fromhex(pending["image"]), None)
            resolved = pending["sale_id"]
        raise CardFault("the card still misses its sale after the write")

    async def _check(self, request: CheckRequest) -> CheckReply:
        await self.session.ensure_signed_on()
        reply = await self.session.with_sign_on(lambda: self.client.check(request))
        code = reply.get("code")
        if reply["result"] == "refused" and (code in _CARD_REFUSALS or "meter" not in reply):
            raise refusal(str(code))
        return reply

    # --- quote and pay ----------------------------------------------------------------
    async def quote(self, view: MeterView, *, quantity: int | None = None, amount: Money | None = None) -> MeterQuote:
        """A quantity (0.01 units) or an amount priced at the current tariff; the
        host records it as a quoted sale. Raises MeterNotApplied, MeterOverLimit,
        MeterQuantityRefused."""
        if (quantity is None) == (amount is None):
            raise ValueError("quote a quantity or an amount")
        now = self._now().replace(microsecond=0)
        sale_id = f"{self.kiosk_id}-M{now:%Y%m%d%H%M%S}-{secrets.token_hex(3).upper()}"
        request: CheckRequest = {"ef01": view.ef01.hex().upper(), "ef02": view.ef02.hex().upper(),
                                 "meter": view.meter, "sale_id": sale_id}
        if quantity is not None:
            request["quantity"] = quantity
        else:
            assert amount is not None
            request["amount_fen"] = amount.fen
        reply = await self._check(request)
        quote = reply.get("quote")
        if reply["result"] != "ok" or quote is None:
            raise refusal(str(reply.get("code", "stale_card")))
        return MeterQuote(sale_id, view, quote["quantity"], Money(quote["amount_fen"]), tuple(quote["lines"]))

    async def pay_by_bank_card(self, quote: MeterQuote, swipe: CardSwipe, pin_block: bytes) -> MeterOutcome:
        """The bank card pays the quote (swipe and PIN as for a bill: the screens'
        bank-card step), then the image is written and confirmed. Raises
        PaymentsSuspended, HostUnavailable (nothing charged), OutcomeUnknown (a
        cancel is on its way), MeterCardTorn (put the card back: `read` or `abandon`)."""
        self.check_can_pay()
        await self.session.ensure_signed_on()
        view, sale_id = quote.view, quote.sale_id
        now = self._now().replace(microsecond=0)
        self.journal.record_meter_intent(
            sale_id, meter=view.meter, house_no=view.house_no, quantity=quote.quantity, amount_fen=quote.amount.fen,
            masked_pan=swipe.masked_pan, detail={"utility": view.utility, "lines": list(quote.lines),
                                                 "at": now.isoformat(timespec="seconds"), "reader": view.reader})
        request: AuthoriseRequest = {"sale_id": sale_id, "amount_fen": quote.amount.fen, "pan": swipe.pan,
                                     "track2": swipe.track2, "expiry": swipe.expiry,
                                     "pin_block": pin_block.hex().upper()}
        reply = await self.settling.send_journaled(
            sale_id, lambda: self.client.authorise(request), undo="cancelling",
            renewed="working keys renewed: enter the PIN again", record=self.journal.set_meter_state)
        if reply["result"] != "approved":
            code = str(reply.get("code", "declined"))
            self.journal.set_meter_state(sale_id, "declined", code=code)
            return MeterOutcome(sale_id, False, quote.quantity, quote.amount, decline_code=code,
                                tries_left=reply.get("tries_left"))
        image = bytes.fromhex(reply.get("image", ""))
        count, reference = int(reply.get("count", 0)), str(reply.get("reference", ""))
        self.journal.set_meter_state(sale_id, "paid", image=image.hex().upper(), count=count, reference=reference,
                                     business_day=reply.get("business_day"))
        confirmed = await self._finish(view.reader, sale_id, image, view.ef01)
        return MeterOutcome(sale_id, True, quote.quantity, quote.amount, count, reference, confirmed=confirmed)

    async def pay_by_wallet(self, quote: MeterQuote, pay: WalletPay) -> MeterOutcome:
        """The IC wallet pays the quote: `pay(sale_id, amount, house_no, items)` is
        the wallet's purchase of the sale (WalletService.pay_meter with the card
        and purse bound), whose confirm pays the sale at the host; then the image
        is fetched, written and confirmed. A wallet-paid sale is never given back:
        a card that leaves mid-write keeps it for its next read (the tear rule)."""
        self.check_can_pay()
        await self.session.ensure_signed_on()
        view, sale_id = quote.view, quote.sale_id
        now = self._now().replace(microsecond=0)
        items: list[list[str | int]] = [[units(line["quantity"], view.utility), line["amount_fen"]]
                                        for line in quote.lines]
        self.journal.record_meter_intent(
            sale_id, meter=view.meter, house_no=view.house_no, quantity=quote.quantity, amount_fen=quote.amount.fen,
            masked_pan="", detail={"utility": view.utility, "lines": list(quote.lines), "paid_by": "wallet",
                                   "at": now.isoformat(timespec="seconds"), "reader": view.reader})
        try:
            paid = await pay(sale_id, quote.amount, view.house_no, items)
        except KioskError as exc:   # the wallet's own journal and settling own its money
            self.journal.set_meter_state(sale_id, "declined", code=type(exc).__name__)
            raise
        if not paid.approved:
            self.journal.set_meter_state(sale_id, "declined", code=paid.decline_code, wallet_txn_id=paid.txn_id)
            return MeterOutcome(sale_id, False, quote.quantity, quote.amount, decline_code=paid.decline_code,
                                tries_left=paid.tries_left)
        request: WalletAuthoriseRequest = {"sale_id": sale_id, "amount_fen": quote.amount.fen,
                                           "wallet_txn_id": paid.txn_id}
        reply = await self.session.with_sign_on(lambda: self.client.authorise(request))
        if reply["result"] != "approved":   # paid, yet not sold: the host's staff settle it (logged there too)
            self.journal.set_meter_state(sale_id, "torn", reason=str(reply.get("code")), wallet_txn_id=paid.txn_id)
            raise refusal("stale_card")
        image = bytes.fromhex(reply.get("image", ""))
        count, reference = int(reply.get("count", 0)), str(reply.get("reference", ""))
        self.journal.set_meter_state(sale_id, "paid", image=image.hex().upper(), count=count, reference=reference,
                                     wallet_txn_id=paid.txn_id)
        confirmed = await self._finish(view.reader, sale_id, image, view.ef01)
        return MeterOutcome(sale_id, True, quote.quantity, quote.amount, count, reference, confirmed=confirmed)

    # --- the write ---------------------------------------------------------------------
    async def _finish(self, reader: str, sale_id: str, image: bytes, before: bytes | None) -> bool:
        """Write the sale's image (the host signs each attempt), then confirm.
        True when the host heard of it; else the settling task tells it."""
        loop = asyncio.get_running_loop()

        def signer(challenge: bytes, image: bytes) -> bytes:   # in the worker thread: ask on the loop
            return asyncio.run_coroutine_threadsafe(
                self.client.sign_write(sale_id, challenge), loop).result(SIGN_TIMEOUT_S)

        device = self._reader(reader)
        try:
            await asyncio.to_thread(write_image, device, image, before, signer)
        except NotTheSameCard:   # checked before any write MAC was asked for: the host reverses on our word
            self._journal_if_ours(sale_id, "cancelling", reason="another card in the reader")
            self.settling.wake()
            await self.settle_once()
            raise
        except (MeterMacInvalid, MeterNoChallenge, MeterWriteDenied) as exc:
            await self.abandon(sale_id, reader, reason=type(exc).__name__)   # nothing was written
            raise
        except (CardRemoved, CardFault, ReaderFault, KioskError) as exc:
            if self.journal.meter_sale(sale_id) is not None:
                self.journal.set_meter_state(sale_id, "torn", reason=type(exc).__name__)
            raise exc if isinstance(exc, MeterCardTorn) else MeterCardTorn(image[:6].hex(), str(exc)) from exc
        self._journal_if_ours(sale_id, "written")
        try:
            await self.session.with_sign_on(lambda: self.client.confirm(sale_id, image))
        except KioskError as exc:
            log.warning("meter sale %s written; confirmation waits: %s", sale_id, exc)
            self._journal_if_ours(sale_id, "confirming")
            self.settling.wake()
            return False
        self._journal_if_ours(sale_id, "confirmed")
        return True

    def _journal_if_ours(self, sale_id: str, state: str, **detail: object) -> None:
        """Another kiosk's torn sale, finished here, is in that kiosk's journal."""
        if self.journal.meter_sale(sale_id) is not None:
            self.journal.set_meter_state(sale_id, state, **detail)

    async def abandon(self, sale_id: str, reader: str, *, reason: str = "resident left") -> None:
        """The resident leaves a sale whose card is in `reader`: if the card
        provably lacks it, the money goes back (cancel with that proof, sent by
        the settling task until acknowledged); if it holds it, it is confirmed."""
        entry = self.journal.meter_sale(sale_id)
        ef01 = await asyncio.to_thread(proof_of_absence, self._reader(reader))
        image = bytes.fromhex(str(entry.detail.get("image", ""))) if entry is not None else b""
        if image and ef01 == image:
            self._journal_if_ours(sale_id, "confirming")
        else:
            self._journal_if_ours(sale_id, "cancelling", reason=reason[:64], proof=ef01.hex().upper())
        self.settling.wake()
        await self.settle_once()

    # --- settling (called by the settling task) ------------------------------------------
    async def settle_once(self) -> bool:
        """Cancels and confirmations the host has not acknowledged yet."""
        for entry in self.journal.meter_sales_in(*METER_UNSETTLED):
            try:
                if entry.state == "cancelling":
                    proof = entry.detail.get("proof")
                    await self.session.with_sign_on(lambda: self.client.cancel(
                        entry.sale_id, str(entry.detail.get("reason", "")),
                        bytes.fromhex(proof) if proof else None))
                    self.journal.set_meter_state(entry.sale_id, "cancelled")
                else:
                    image = bytes.fromhex(str(entry.detail["image"]))
                    await self.session.with_sign_on(lambda: self.client.confirm(entry.sale_id, image))
                    self.journal.set_meter_state(entry.sale_id, "confirmed")
            except HostRejected as exc:
                # the host will not (the card may hold the sale): it keeps the sale, and
                # the next read of the card settles it at any kiosk (the tear rule)
                log.warning("meter sale %s left to the card's next read: %s", entry.sale_id, exc)
                self.journal.set_meter_state(entry.sale_id, "torn", reason=str(exc.detail)[:200])
            except KioskError as exc:
                log.info("meter sale %s not settled yet: %s", entry.sale_id, exc)
                return False
        return True

    # --- receipts ---------------------------------------------------------------------
    def receipt_for(self, sale_id: str, *, reprint: bool = False) -> Receipt:
        entry = self.journal.meter_sale(sale_id)
        if entry is None:
            raise KeyError(f"no meter sale {sale_id}")
        return meter_receipt(entry, self.estate, self.kiosk_id, reprint=reprint)

    async def print_receipt(self, sale_id: str) -> bool:
        return await print_logged(self.printer, self.receipt_for(sale_id))
