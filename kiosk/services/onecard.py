"""The estate one-card's use cases (docs/onecard.md "The kiosk"): present it
(read, the host's check, any recovery the host rules on), its balance and last
records for a screen, load it from a bank card, pay the household's bill from
it. The host's mirror is the authority: every write is authorised online first
and confirmed after.

Journal first: the operation before its authorise leaves, each purse step
(UID, step, amount) before it runs (journal_onecard.py). A card that leaves
during steps 3–7 is torn: the next presentation, at any kiosk, sends the card's
figures; the host compares them with its pending operation and says confirm
or cancel, and that kiosk sends it. Never a guess: figures that fit neither
are refused and flagged for staff."""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from common.bank_card import CardSwipe
from common.money import Money
from common.onecard import TxnType
from kiosk.backend_client.onecard import AuthoriseExtra, AuthoriseRequest, Finish, OneCardClient
from kiosk.cards.mifare_purse import PurseResult, Step
from kiosk.devices.ports import IcReader, ReceiptPrinter
from kiosk.domain.bill import HouseholdBill
from kiosk.domain.errors import CardTorn, KioskError, NotTheSameCard, OneCardRefused, OutcomeUnknown, PaymentsSuspended
from kiosk.domain.receipt import Receipt
from kiosk.services.journal import Journal, JournalEntry
from kiosk.services.journal_onecard import ONECARD_KINDS
from kiosk.services.onecard_card import CardSession, OneCardView, is_onecard, open_session
from kiosk.services.onecard_receipt import onecard_receipt
from kiosk.services.ports import HostSessionPort, SettlingPort
from kiosk.services.receipts import bill_periods, print_logged
from kiosk.services.card_presentation import PresentationHook

log = logging.getLogger(__name__)

_TXN_TYPE = {"load": TxnType.LOAD, "bill": TxnType.BILL_PAYMENT}


@dataclass(frozen=True)
class OneCardOutcome:
    txn_id: str
    kind: str                      # load | bill
    approved: bool
    amount: Money
    balance_after: Money | None = None
    reference: str = ""
    masked_pan: str = ""
    decline_code: str | None = None
    tries_left: int | None = None
    uid: str = ""


@dataclass(frozen=True)
class TornOneCard:
    """The operation whose card left during its write, while this kiosk awaits the card."""
    uid: str
    txn_id: str
    kind: str                      # load | bill
    amount: Money
    masked_pan: str = ""


class OneCardService:
    def __init__(self, *, kiosk_id: str, term_id: bytes, journal: Journal, client: OneCardClient,
                 session: HostSessionPort, settling: SettlingPort, reader: IcReader,
                 now: Callable[[], datetime], printer: ReceiptPrinter | None = None, estate: str = "") -> None:
        self.kiosk_id, self.term_id, self.journal, self.client = kiosk_id, term_id, journal, client
        self.session, self.settling, self.reader, self._now = session, settling, reader, now
        self.printer, self.estate = printer, estate
        self._txn_id = ""            # the operation the purse's steps belong to ('' a presentation)
        self.torn: TornOneCard | None = None   # a card that left during its write, awaited here
        self._at_presentation: list[tuple[PresentationHook, str]] = []   # (hook, its name for our reader)
        settling.add_settler(self.settle)

    def recover_at_start(self) -> None:
        """What a crash left: `sending` may have reached the host, but no key did
        unless it was approved: with no card step ≥ 3 journaled the card holds
        nothing of it (cancel); otherwise it waits for the card's next presentation."""
        for entry in self._entries("sending", "authorised"):
            wrote = any(step >= Step.MARK_PENDING for _, step, _ in self.journal.onecard_steps(entry.txn_id))
            self.journal.set_state(entry.txn_id, "torn" if wrote else "cancelling", reason="kiosk restarted")

    async def is_onecard_async(self) -> bool:
        """Whether the card on the reader is a one-card (not a CPU card)."""
        return await asyncio.to_thread(is_onecard, self.reader)

    # --- presentation ---------------------------------------------------------------
    def at_presentation(self, hook: PresentationHook, reader: str) -> None:
        """`hook("onecard", uid, reader)` runs after every presentation, `reader`
        being this service's reader as the hook names it; as WalletService's: it
        touches no card, and a settling it hands back runs with the card (the
        presentation's session closed), then the card is presented again so the
        balance shown includes it. Bootstrap wires TransferService.owed_at_presentation."""
        self._at_presentation.append((hook, reader))

    async def present(self) -> OneCardView:
        """Read the card, have the host check it, finish what it rules on; then
        what the presentation hooks settle (the transfers' credits owed)."""
        view = await self._present_once()
        settling = [settle for hook, reader in self._at_presentation
                    if (settle := await hook("onecard", view.uid, reader)) is not None]
        if not settling:
            return view
        settled = view.settled
        for settle in settling:
            settled += await settle()
        again = await self._present_once()
        return replace(again, settled=settled + again.settled)

    async def _present_once(self) -> OneCardView:
        await self.session.ensure_signed_on()
        card = await self._open()
        try:
            return await self._presented(card, records=True)
        finally:
            await asyncio.to_thread(card.close)

    async def _open(self) -> CardSession:
        self._txn_id = ""
        return await asyncio.to_thread(open_session, self.reader, self._on_step)

    async def _presented(self, card: CardSession, *, records: bool = False) -> OneCardView:
        keys = await self.client.keys(card.uid_hex)
        if keys is None:
            raise OneCardRefused(card.uid_hex, "unknown_onecard")
        card.ring.add(keys)
        p = await asyncio.to_thread(card.present, self.term_id, self._now().replace(microsecond=0))
        block4, block5 = await asyncio.to_thread(card.issuance_blocks)
        refused = p.recovery.reason if p.refused and p.recovery is not None else None
        reply = await self.client.present({
            "uid": card.uid_hex, "block4": block4.hex().upper(), "block5": block5.hex().upper(),
            "balance_fen": p.balance or 0, "count": p.info.count if p.info is not None else 0,
            "black": p.info.black if p.info is not None else 0, "purse_refused": refused})
        settled: tuple[str, ...] = ()
        if reply["finish"] is not None and p.info is not None and p.balance is not None:
            settled = (await self._finish(reply["finish"], card.uid_hex, p.balance, p.info.count),)
        if reply["result"] != "ok":
            raise OneCardRefused(card.uid_hex, str(reply["code"]))
        assert p.info is not None and p.balance is not None
        lines = await asyncio.to_thread(card.records, p.info.pointer) if records else ()
        return OneCardView(card.uid_hex, reply["holder"] or "", reply["house_no"] or "", Money(p.balance),
                           p.info.count, lines, settled)

    async def _finish(self, finish: Finish, uid: str, balance: int, count: int) -> str:
        """The host's ruling on a pending operation, journaled, then sent (or left
        to the settling task, which blocks new payments until it is through)."""
        txn_id, state = finish["txn_id"], "confirming" if finish["action"] == "confirm" else "cancelling"
        figures = {"uid": uid, "balance_after": balance, "count": count}
        if self.journal.get(txn_id) is None:     # another kiosk's operation, settled here
            self.journal.onecard_record(txn_id, kind=f"onecard_{finish['kind']}", house_no="",
                                        amount_fen=finish["amount_fen"], masked_pan="", state=state,
                                        detail={**figures, "found_at_presentation": True})
        else:
            self.journal.set_state(txn_id, state, **figures)
        await self.settle()
        return txn_id

    # --- money ----------------------------------------------------------------------
    async def load(self, amount: Money, swipe: CardSwipe, pin_block: bytes) -> OneCardOutcome:
        """Load the card in the reader from a bank card (swipe + PIN block)."""
        return await self._operate("load", amount, swipe.masked_pan, "", {
            "pan": swipe.pan, "track2": swipe.track2, "expiry": swipe.expiry, "pin_block": pin_block.hex().upper()})

    async def pay_bill(self, bill: HouseholdBill) -> OneCardOutcome:
        """Pay the household's bill (all that is due) from the card in the reader."""
        return await self._operate("bill", bill.total_due, "", str(bill.house), {
            "house_no": str(bill.house), "periods": bill_periods(bill)})

    async def _operate(self, kind: str, amount: Money, masked: str, house_no: str,
                       extra: AuthoriseExtra) -> OneCardOutcome:
        if self.settling.suspended:
            raise PaymentsSuspended("a reversal or a one-card confirmation is pending")
        if amount.fen <= 0:
            raise ValueError("an amount is at least 0.01")
        await self.session.ensure_signed_on()
        card = await self._open()
        try:
            view = await self._presented(card)
            p = card.presentation
            assert p is not None and p.info is not None
            now = self._now().replace(microsecond=0)
            txn_id = f"{self.kiosk_id}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(3).upper()}"
            self.journal.onecard_record(txn_id, kind=f"onecard_{kind}", house_no=house_no, amount_fen=amount.fen,
                                        masked_pan=masked, state="sending", detail={
                                            "uid": view.uid, "balance_before": p.balance, "count_before": p.info.count,
                                            "at": now.isoformat(timespec="seconds"), "periods": extra.get("periods")})
            request: AuthoriseRequest = {"txn_id": txn_id, "uid": view.uid, "kind": "load" if kind == "load" else "bill",
                                         "amount_fen": amount.fen, "balance_fen": view.balance.fen,
                                         "count": view.count, **extra}
            reply, keys = await self.settling.send_journaled(
                txn_id, lambda: self.client.authorise(request), undo="cancelling",
                renewed="working keys renewed: try again")
            if reply["result"] != "approved":
                code = str(reply.get("code", "declined"))
                self.journal.set_state(txn_id, "declined", code=code)
                return OneCardOutcome(txn_id, kind, False, amount, masked_pan=masked, decline_code=code,
                                      tries_left=reply.get("tries_left"), uid=view.uid)
            self.journal.set_state(txn_id, "authorised", reference=str(reply.get("reference", "")))
            card.ring.add(keys)
            result = await self._write(card, txn_id, kind, amount, now)
            self.journal.set_state(txn_id, "confirming", uid=view.uid, balance_after=result.balance_after,
                                   count=result.count)
            await self.settle()
            entry = self.journal.get(txn_id)
            return OneCardOutcome(txn_id, kind, True, amount, Money(result.balance_after),
                                  str(entry.detail.get("reference", "")) if entry is not None else "", masked,
                                  uid=view.uid)
        finally:
            self._txn_id = ""
            await asyncio.to_thread(card.close)

    async def _write(self, card: CardSession, txn_id: str, kind: str, amount: Money, now: datetime) -> PurseResult:
        """Steps 3–7. Before step 3 nothing is written (cancel now); after, a card
        that leaves or fails is torn: its next presentation decides."""
        p = card.presentation
        assert p is not None
        self._txn_id = txn_id
        txn_type = _TXN_TYPE[kind]
        apply = card.purse.credit if txn_type.is_credit else card.purse.debit
        try:
            return await asyncio.to_thread(apply, p, amount.fen, txn_type, self.term_id, now)
        except (KioskError, ValueError) as exc:
            wrote = any(step >= Step.MARK_PENDING for _, step, _ in self.journal.onecard_steps(txn_id))
            if wrote or isinstance(exc, CardTorn):
                self.journal.set_state(txn_id, "torn", reason=type(exc).__name__)
                entry = self.journal.get(txn_id)
                self.torn = TornOneCard(card.uid_hex, txn_id, kind, amount,
                                        entry.masked_pan if entry is not None else "")
                raise CardTorn(card.uid_hex, f"one-card {card.uid_hex} left during {kind} {txn_id}") from exc
            self.journal.set_state(txn_id, "cancelling", reason=f"not written: {type(exc).__name__}")
            await self.settle()
            raise

    # --- a card torn here: the same card back (the screens' tear step) ------------------
    async def resume_torn(self) -> OneCardOutcome:
        """The torn card is back: a presentation (the card's own recovery, then
        the host's confirm or cancel), and what became of the torn operation.
        NotTheSameCard for another card (nothing of the torn one is touched)."""
        torn = self.torn
        if torn is None:
            raise OutcomeUnknown("no one-card operation awaits its card")
        if not await self.is_onecard_async() or await asyncio.to_thread(self._uid_in_reader) != torn.uid:
            raise NotTheSameCard(f"not one-card {torn.uid}")
        view: OneCardView | None = None
        try:
            view = await self.present()
        except OneCardRefused as exc:    # a refused card still has a pending operation finished first
            log.info("torn one-card %s back, refused: %s", torn.uid, exc.code)
        outcome = self.outcome_of(torn, view)
        self.torn = None
        return outcome

    def outcome_of(self, torn: TornOneCard, view: OneCardView | None) -> OneCardOutcome:
        """What the journal says of the torn operation after the card's presentation."""
        entry = self.journal.get(torn.txn_id)
        state = entry.state if entry is not None else "torn"
        detail = entry.detail if entry is not None else {}
        if state in ("completed", "confirming"):
            after = Money(int(detail["balance_after"])) if "balance_after" in detail else (
                view.balance if view is not None else None)
            return OneCardOutcome(torn.txn_id, torn.kind, True, torn.amount, after, str(detail.get("reference", "")),
                                  torn.masked_pan, uid=torn.uid)
        if state in ("cancelled", "cancelling"):
            return OneCardOutcome(torn.txn_id, torn.kind, False, torn.amount,
                                  view.balance if view is not None else None, masked_pan=torn.masked_pan,
                                  decline_code="not_applied", uid=torn.uid)
        raise OutcomeUnknown(f"one-card operation {torn.txn_id} still {state}")

    def abandon_torn(self) -> None:
        """The card holder has not got the card: its next presentation, at any
        kiosk, settles the operation (the journal keeps it `torn`)."""
        self.torn = None

    def _uid_in_reader(self) -> str:
        card = open_session(self.reader, lambda *_: None)
        try:
            return card.uid_hex
        finally:
            card.close()

    # --- receipts -------------------------------------------------------------------
    def receipt_for(self, txn_id: str, *, reprint: bool = False) -> Receipt:
        entry = self.journal.get(txn_id)
        if entry is None:
            raise KeyError(f"no one-card operation {txn_id}")
        return onecard_receipt(entry, self.estate, self.kiosk_id, reprint=reprint)

    async def print_receipt(self, txn_id: str) -> bool:
        """True if printed; a failure is logged, never raised (receipts can be reprinted)."""
        if self.printer is None:
            return False
        return await print_logged(self.printer, self.receipt_for(txn_id))

    # --- the settling task's part -----------------------------------------------------
    async def settle(self) -> bool:
        """Send the confirms and cancels owed; True when none is left."""
        done = True
        for entry in self._entries("confirming", "cancelling"):
            try:
                if entry.state == "confirming":
                    d = entry.detail
                    reference = await self.session.with_sign_on(lambda: self.client.confirm(
                        entry.txn_id, str(d["uid"]), int(d["balance_after"]), int(d["count"])))
                    self.journal.set_state(entry.txn_id, "completed", reference=reference)
                else:
                    status = await self.session.with_sign_on(lambda: self.client.cancel(
                        entry.txn_id, str(entry.detail.get("reason", "card did not apply it"))))
                    self.journal.set_state(entry.txn_id, "cancelled", cancel=status)
            except KioskError as exc:
                log.info("one-card %s %s not acknowledged yet: %s", entry.state, entry.txn_id, exc)
                self.settling.wake()
                done = False
        return done

    def _entries(self, *states: str) -> list[JournalEntry]:
        return [e for e in self.journal.in_state(*states) if e.kind in ONECARD_KINDS]

    def _on_step(self, uid: bytes, step: Step, amount: int) -> None:
        self.journal.onecard_step(self._txn_id, uid.hex().upper(), int(step), amount)
