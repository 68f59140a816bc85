"""The estate one-card in 卡务 (docs/onecard.md "The screens"): a one-card
tapped on the contactless reader shows its balance and last records, and
offers a load from a bank card and paying the household's bill from the card.
Every rule is OneCardService's (kiosk/services/onecard.py): this part only
routes its answers to screens.

    card_insert ─one-card─▶ onecard ─圈存─▶ onecard_amount ─▶ swipe ─▶ pin ─┐
                              │        └─缴费─▶ onecard_bill ─确认───────────┤
                              └─ refused ─▶ onecard_refused                  ▼
               card_tear ◀─card pulled during the write── card_processing ─▶ onecard_result

The PIN of a load is the bank card's, checked by the card centre (the shared
bank card step: purpose "load"). A card pulled during the write waits on the
CPU wallet's tear screen (tear.py) with this part as its owner; the card back
is presented again and the host's confirm or cancel says what happened."""
from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from kivy.properties import BooleanProperty, ObjectProperty, StringProperty

from common.errors import KeyedError
from common.money import Money
from common.onecard import MAX_AMOUNT
from kiosk.domain.errors import CardTorn, HostUnavailable, OneCardRefused, PaymentsSuspended
from kiosk.screens import card_view
from kiosk.screens.bank_card import BankCardFor, BankCardRequest, BankCardStep
from kiosk.screens.messages import CARD_CENTRE, Decline, Outcome, decline_for, log_failure
from kiosk.screens.navigation import Message, Navigator, Screen, Spawn
from kiosk.services.onecard_blacklist import UnpaidFeeRefusal

if TYPE_CHECKING:
    from common.bank_card import CardSwipe
    from kiosk.domain.bill import HouseholdBill
    from kiosk.services.bills import BillService
    from kiosk.services.onecard import OneCardOutcome, OneCardService
    from kiosk.services.onecard_blacklist import OneCardBlacklistService
    from kiosk.services.wallet_view import WalletLimits

log = logging.getLogger(__name__)

ONECARD_SCREENS = frozenset({Screen.ONECARD, Screen.ONECARD_AMOUNT, Screen.ONECARD_BILL, Screen.ONECARD_RESULT,
                             Screen.ONECARD_REFUSED})
# on these the one-card in the reader is the one being served: taking it away ends the step
ONECARD_STEPS = (Screen.ONECARD_AMOUNT, Screen.ONECARD_BILL)
READER = "contactless"                       # the one-card is only ever tapped
# the host's refusal codes whose card goes to the property office (shown to staff)
STATUS_CODES = ("lost", "returned", "expired", "blacklisted", "unknown_onecard")


class OneCardSteps(Outcome):
    """The one-card's part of CardServices (flow.py), which hands it the card
    events, the amount keypad (amount.py) and the tear screen (tear.py)."""
    view = ObjectProperty(None, allownone=True)      # kiosk.services.onecard_card.OneCardView
    bill = ObjectProperty(None, allownone=True)      # the household's bill, paid from the card
    busy = BooleanProperty(False)                    # the bill is being looked up
    kind = StringProperty("")                        # "" | load | bill (what is being done)
    amount_text = StringProperty("")                 # "¥100.00"
    result_balance = StringProperty("")              # the purse after the write
    masked_pan = StringProperty("")                  # a load's bank card
    refused_code = StringProperty("")                # the host's refusal code (onecard_refused)
    # The unpaid-fee blacklist's "pay the arrears now": a callable taking the refused
    # card's UID and house (OneCardArrears.offer, set with the blacklist service); the
    # refusal of a blacklisted card offers it when there is a bill. None: it only says why.
    arrears_offer = ObjectProperty(None, allownone=True)
    arrears = ObjectProperty(None, allownone=True)   # OneCardArrears (onecard_arrears.py), or None
    refused_uid = StringProperty("")
    refused_house = StringProperty("")

    result_screen = Screen.ONECARD_RESULT

    def __init__(self, nav: Navigator, bank: BankCardStep, service: OneCardService, bills: BillService | None,
                 limits: WalletLimits, spawn: Spawn, owner: Any, *,
                 blacklist: OneCardBlacklistService | None = None, **kwargs: Any) -> None:
        """`owner`: the CardServices (flow.py) whose processing, tear and
        messages this part uses; `blacklist`: the unpaid-fee blacklist, whose
        refusal offers to pay the arrears (onecard_arrears.py)."""
        super().__init__(**kwargs)
        self.nav, self.bank, self.service, self.bills, self.limits = nav, bank, service, bills, limits
        self._spawn, self._owner = spawn, owner
        if blacklist is not None:
            from kiosk.screens.card_services.onecard_arrears import OneCardArrears
            self.arrears = OneCardArrears(self, bank, blacklist)
            self.arrears_offer = self.arrears.offer
        self._swipe: CardSwipe | None = None
        self._amount = Money(0)
        self._gen = 0

    # --- the card tapped ------------------------------------------------------------
    async def claims(self, reader: str) -> bool:
        """Whether the card just presented in `reader` is a one-card (this part's)."""
        if reader != READER:
            return False
        try:
            return await self.service.is_onecard_async()
        except Exception:  # noqa: BLE001 - not readable as a one-card: the CPU wallet tries it
            return False

    async def read(self, gen: int, pay: HouseholdBill | None = None) -> None:
        """Present the card (the host checks it; a torn operation is finished)."""
        try:
            view = await (self.arrears.present() if self.arrears is not None else self.service.present())
        except OneCardRefused as exc:
            if gen == self._owner._gen:
                self._refused(exc)
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            if gen == self._owner._gen:
                self._owner._fail(exc, "reading the one-card")
            return
        if gen != self._owner._gen:
            return
        self.nav.dispatch("on_activity")
        if isinstance(view, UnpaidFeeRefusal):   # listed: why, and the offer to pay the arrears
            assert self.arrears is not None
            self.arrears.refused(view)
            return
        self.view = view
        if pay is not None:                   # paying a bill from the bill screen: the card pays it
            self._show_bill(pay)
        else:
            self.nav.screen = Screen.ONECARD

    def _refused(self, exc: OneCardRefused) -> None:
        self.refused_code = exc.code if exc.code in STATUS_CODES else "needs_staff"
        self.refused_uid = exc.uid
        self.refused_house = ""
        self.nav.screen = Screen.ONECARD_REFUSED

    def pay_arrears(self) -> None:
        """The refusal's "pay the arrears now" (only offered with the hook set)."""
        if self.arrears_offer is not None:
            self.arrears_offer(self.refused_uid, self.refused_house)

    def card_left(self, screen: str) -> None:
        """The one-card left the reader (Kivy's thread)."""
        if screen == Screen.ONECARD:
            self.nav.go_idle()               # the card holder took the card: done
        elif screen in ONECARD_STEPS or (screen in self.bank.screens and self.kind == "load"):
            self._leave_step()
            self.nav.show(Message("card.msg.title", "error.card_removed", action="card_again",
                                  back_to=Screen.IDLE))

    # --- load ----------------------------------------------------------------------
    def start_load(self) -> None:
        if self._owner._suspended():
            return
        self.kind = "load"
        self._owner.op = "onecard_load"      # the amount keypad (amount.py) is this part's now
        self._owner.amount_typed = ""
        self._owner._set_amount_note("")
        self.nav.screen = Screen.ONECARD_AMOUNT

    def bounds(self) -> card_view.Bounds | None:
        """A load's amount: the wallet's per-load limits, and what the purse's 3 bytes can still take."""
        if self.view is None:
            return None
        room = Money(MAX_AMOUNT) - self.view.balance
        return card_view.Bounds(self.limits.min_load, min(self.limits.max_load, room), self.limits.max_load, room)

    def amount_chosen(self, amount: Money) -> None:
        assert self.view is not None
        self._amount = amount
        self.amount_text = amount.display()
        self.bank.start(BankCardRequest(
            BankCardFor("load", self.amount_text, card_tail=card_view.serial_tail(self.view.uid),
                        card_wallet="ONECARD"),
            done=self._bank_card_done, back=self._back_from_bank, unavailable=self._unavailable,
            fail_back_to=Screen.IDLE))      # purpose "load": the PIN is checked by the card centre

    def _bank_card_done(self, swipe: CardSwipe, pin_block: bytes | None) -> None:
        assert pin_block is not None
        self._swipe = swipe
        self._process(self.service.load(self._amount, swipe, pin_block))

    def _back_from_bank(self) -> None:
        self._drop_swipe()
        self._owner.amount_typed = ""
        self.nav.screen = Screen.ONECARD_AMOUNT

    # --- the household's bill -----------------------------------------------------------
    def start_bill(self) -> None:
        if self._owner._suspended() or self.view is None or self.bills is None or self.busy:
            return
        self.busy = True
        self._spawn(self._lookup(self.view.house_no, self._owner._gen))

    async def _lookup(self, house: str, gen: int) -> None:
        try:
            bill = await self.bills.lookup(house) if self.bills is not None else None
        except Exception as exc:  # noqa: BLE001 - shown as a message
            if gen == self._owner._gen:
                self.busy = False
                self._owner._fail(exc, "looking up the one-card's bill")
            return
        if gen == self._owner._gen and bill is not None:
            self.busy = False
            self._show_bill(bill)

    def _show_bill(self, bill: HouseholdBill) -> None:
        self.kind = "bill"
        self._owner.op = "onecard_bill"
        self.bill = bill
        self.amount_text = self._owner.amount_text = bill.total_due.display()
        self.nav.screen = Screen.ONECARD_BILL

    def confirm_bill(self) -> None:
        bill, view = self.bill, self.view
        if bill is None or view is None or not bill.total_due or view.balance < bill.total_due:
            return                           # the screen says why (nothing due, not enough on the card)
        self._process(self.service.pay_bill(bill))

    # --- processing and outcomes --------------------------------------------------------
    def _process(self, work: Coroutine[Any, Any, OneCardOutcome]) -> None:
        self.nav.screen = Screen.CARD_PROCESSING
        self._spawn(self._run(work))          # never cancelled: go_idle refuses meanwhile

    async def _run(self, work: Coroutine[Any, Any, OneCardOutcome]) -> None:
        if not await self.nav.hold(Screen.CARD_PROCESSING):
            work.close()
            return
        try:
            outcome = await work
        except Exception as exc:  # noqa: BLE001 - every failure is shown
            self._failed(exc)
            return
        self.show_outcome(outcome)

    def show_outcome(self, outcome: OneCardOutcome) -> None:
        """The service's answer (also the torn card's, once it is back)."""
        self.kind = outcome.kind
        self.amount_text = outcome.amount.display()
        self.masked_pan = outcome.masked_pan
        self.result_balance = outcome.balance_after.display() if outcome.balance_after is not None else ""
        if outcome.approved:
            self._drop_swipe()
            self.reference = outcome.reference
            self.receipt_state = "printing"
            self.nav.print_in_background(self._print(outcome.txn_id, self._owner._gen))
            self.show_result("approved", f"onecard.result.{outcome.kind}.title", f"onecard.result.{outcome.kind}")
            return
        code = outcome.decline_code or "declined"
        if code == "wrong_pin" and outcome.tries_left != 0 and self._swipe is not None:
            self.bank.again("pin.wrong", outcome.tries_left) if outcome.tries_left is not None \
                else self.bank.again("pin.wrong_plain")
            return
        self._drop_swipe()
        if code == "not_applied":            # a torn write the card proved it never applied
            self.show_result("declined", "onecard.result.not_applied.title", f"onecard.result.not_applied.{self.kind}")
            return
        self.show_result("declined", "card.result.declined.title", decline_body(code, self.kind))

    async def _print(self, txn_id: str, gen: int) -> None:
        try:
            printed = await self.service.print_receipt(txn_id)
        except Exception:  # noqa: BLE001 - the operation stands; only the paper failed
            log.exception("one-card: receipt for %s", txn_id)
            printed = False
        if gen == self._owner._gen and self.nav.screen == Screen.ONECARD_RESULT:
            self.receipt_state = "printed" if printed else "not_printed"

    def _failed(self, exc: BaseException) -> None:
        self._drop_swipe()
        if isinstance(exc, CardTorn):
            self._owner._start_tear(exc.serial, owner=self)
        elif isinstance(exc, OneCardRefused):
            self._refused(exc)
        elif isinstance(exc, HostUnavailable):
            self._unavailable()
        elif isinstance(exc, PaymentsSuspended):
            self.nav.show(Message("card.msg.suspended.title", exc.message_key, tone="info", back_to=Screen.IDLE))
        else:
            log_failure(log, "one-card,", self.kind, exc)
            key = exc.message_key if isinstance(exc, KeyedError) else "error.generic"
            self.nav.show(Message("card.msg.title", key, back_to=Screen.IDLE))

    def _unavailable(self) -> None:
        self._drop_swipe()
        self.show_result("unavailable", "card.result.unavailable.title", "card.result.unavailable")

    # --- the tear screen's owner (tear.py) ---------------------------------------------------
    async def resume_torn(self, _reader: str) -> OneCardOutcome:
        return await self.service.resume_torn()

    async def abandon_torn(self) -> None:
        self.service.abandon_torn()

    # --- ways out ----------------------------------------------------------------------------
    def result_next(self) -> None:
        if self.result_kind == "approved" or self.view is None:
            self.nav.go_idle()
        else:
            self.nav.screen = Screen.ONECARD     # nothing happened: the card again

    def back(self) -> None:
        screen = self.nav.screen
        if screen in (Screen.ONECARD_AMOUNT, Screen.ONECARD_BILL) and self.view is not None:
            self._leave_step()
            self.nav.screen = Screen.ONECARD
        else:
            self.nav.go_idle()

    def _leave_step(self) -> None:
        if self.nav.screen in self.bank.screens:
            self.bank.stop()
        self._drop_swipe()
        self.kind = ""
        self._owner.op = "view"

    def _drop_swipe(self) -> None:
        self._swipe = None
        self.bank.drop()

    def reset(self) -> None:
        self._swipe = None
        self._amount = Money(0)
        self.view = self.bill = None
        self.busy = False
        self.kind = self.amount_text = self.result_balance = self.masked_pan = ""
        self.refused_code = self.refused_uid = self.refused_house = ""
        if self.arrears is not None:
            self.arrears.reset()
        self.forget_approval()


# the one-card's own decline codes (docs/onecard.md "Authorise"); the rest are the
# shared table's, as the card centre relays the bank's (messages.DECLINES)
ONECARD_DECLINES = {"mirror_mismatch": "error.onecard_needs_staff", "onecard_pending": "onecard.decline.pending",
                    "not_card_household": "onecard.decline.not_card_household",
                    "insufficient_funds_bill": "onecard.decline.purse_short", "card_returned": "error.onecard_lost",
                    "card_expired": "error.onecard_expired", "unknown_onecard": "error.not_our_card"}
OTHER_DECLINE = Decline("card.decline.other", "")


def decline_body(code: str, kind: str) -> str:
    """The catalogue key saying why the host declined a one-card operation."""
    if code == "insufficient_funds" and kind == "bill":
        code = "insufficient_funds_bill"      # the purse is short, not the bank account
    return ONECARD_DECLINES.get(code) or decline_for(code, CARD_CENTRE, OTHER_DECLINE).body


__all__ = ["ONECARD_SCREENS", "OneCardSteps", "decline_body"]
