"""Paying the bill: the house number typed, the bill shown, and a bank card
payment to its result. The flow only routes; bills come from BillService,
payments from PaymentService, and every rule about them lives there (DESIGN
§2 rule 1). Kivy properties let the .kv files bind to it.

Card payment (docs/ui.md "Screen flow"):

    bill ─Pay─▶ (paper check) ─▶ swipe ─▶ pin ─▶ processing ─▶ result
                 ├─ out: message "no paper: continue without receipt?"
                 └─ suspended: message "card payment unavailable"

The swipe and PIN are the shared bank card step (bank_card.py). Paying from
the IC wallet instead ("IC卡钱包") is the card services' flow: the composition
(flows.py) hands it over through `pay_by_wallet_with`.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kivy.properties import BooleanProperty, ObjectProperty, StringProperty

from common.errors import BadHouseNumber, KeyedError
from common.house import HouseNumber, is_plausible_prefix
from kiosk.devices.ports import PaperStatus
from kiosk.domain.errors import (BadHostReply, HostUnavailable, HouseNotFound, OutcomeUnknown,
                                 PaymentsSuspended)
from kiosk.screens.bank_card import BankCardFor, BankCardRequest, BankCardStep
from kiosk.screens.messages import BANK, Decline, Outcome, decline_for, log_failure, payment_message
from kiosk.screens.navigation import Message, Navigator, Screen, Spawn
from kiosk.services.bills import BillService

if TYPE_CHECKING:
    from kiosk.domain.bill import HouseholdBill
    from common.bank_card import CardSwipe
    from kiosk.services.payment import PaymentOutcome, PaymentService

log = logging.getLogger(__name__)

KEYS = tuple("0123456789-")
MAX_TYPED = 12
OTHER_DECLINE = Decline("decline.other", "another_card")


def lookup_message(error: BaseException) -> Message:
    """A bill lookup that failed: which message and which way out, by who must act."""
    key = error.message_key if isinstance(error, KeyedError) else "error.generic"
    if isinstance(error, (HouseNotFound, BadHouseNumber)):
        return Message("msg.sorry", key, action="reenter", back_to=Screen.ENTRY)
    if isinstance(error, (HostUnavailable, BadHostReply)):
        return Message("msg.sorry", key, action="retry", back_to=Screen.ENTRY)
    return Message("msg.sorry", key, action="home", back_to=Screen.ENTRY)


class BillPayment(Outcome):
    house_text = StringProperty("")
    hint_key = StringProperty("entry.hint.continue")
    hint_arg = StringProperty("")
    hint_is_error = BooleanProperty(False)
    busy = BooleanProperty(False)
    bill = ObjectProperty(None, allownone=True)   # kiosk.domain.bill.HouseholdBill
    # --- the payment's processing and result screens ------------------------------
    amount_text = StringProperty("")          # what is being paid, "¥1,269.31"
    house_no = StringProperty("")
    card_text = StringProperty("")            # masked PAN of the card paying
    result_title = StringProperty("result.approved.title")

    screens = frozenset({Screen.ENTRY, Screen.BILL, Screen.PROCESSING, Screen.RESULT})
    actions = frozenset({"retry", "reenter", "no_receipt"})
    result_screen = Screen.RESULT

    def __init__(self, nav: Navigator, bank: BankCardStep, bills: BillService, payments: PaymentService | None,
                 spawn: Spawn, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nav = nav
        self.bank = bank
        self._bills = bills
        self._payments = payments
        self._spawn = spawn
        # the IC wallet's payment of this bill (given the bill and how to look it up again), if configured
        self.pay_by_wallet_with: Callable[[HouseholdBill, Callable[[], None]], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._looked_up = ""
        self._with_receipt = True
        self._paper_note = ""

    # --- as a Part -------------------------------------------------------------------
    def start(self) -> None:
        self.house_text = ""
        self.bill = None
        self._set_hint("entry.hint.continue")
        self.nav.screen = Screen.ENTRY

    def back(self) -> None:
        screen = self.nav.screen
        if screen == Screen.ENTRY:
            self.nav.go_idle()
        elif screen == Screen.BILL:
            self.nav.screen = Screen.ENTRY
        elif screen == Screen.RESULT:
            if self.result_kind in ("approved", "unknown") or self.bill is None:
                self.nav.go_idle()
            else:
                self.bank.stop()
                self.nav.screen = Screen.BILL

    def message_action(self, action: str) -> None:
        if action == "retry":
            self.retry()
        elif action == "reenter":
            self.nav.screen = Screen.ENTRY
        elif action == "no_receipt":
            self.continue_without_receipt()

    def reset(self) -> None:
        self._cancel()
        self._forget_payment()
        self.house_text = ""
        self.bill = None
        self._looked_up = ""
        self._set_hint("entry.hint.continue")

    # --- the bill screen's buttons -------------------------------------------------------
    def pay_by_wallet(self) -> None:
        """IC卡钱包 on the bill screen: present the card, then choose the wallet."""
        if self.pay_by_wallet_with is None or self.busy or self.bill is None or self.bill.nothing_due:
            return
        assert self._payments is not None
        try:
            self._payments.check_can_pay()
        except PaymentsSuspended as exc:
            self.nav.show(payment_message(exc))
            return
        self.pay_by_wallet_with(self.bill, self.lookup_again)

    def pay(self) -> None:
        """Pay on the bill screen: check payments can start and the paper, then swipe."""
        if self._payments is None:
            self.nav.show(Message("msg.pay_soon.title", "msg.pay_soon", action="home", back_to=Screen.BILL,
                                  tone="info"))
            return
        if self.busy or self.bill is None or self.bill.nothing_due:
            return
        try:
            self._payments.check_can_pay()
        except PaymentsSuspended as exc:
            self.nav.show(payment_message(exc))
            return
        self.busy = True
        self._task = self._spawn(self._check_paper())

    # --- card payment -------------------------------------------------------------
    async def _check_paper(self) -> None:
        assert self._payments is not None
        try:
            if not await self.nav.hold(Screen.BILL):
                return
            paper = await self._payments.paper_status()
        finally:
            self._task = None
            self.busy = False
            self.nav.release_at_rest()   # held again by the swipe
        if self.nav.screen != Screen.BILL:
            return      # the resident left meanwhile
        if paper is PaperStatus.OUT:
            self.nav.show(Message("msg.no_paper.title", "msg.no_paper", action="no_receipt", back_to=Screen.BILL,
                                  tone="info"))
            return
        self._begin(with_receipt=True, paper_low=paper is PaperStatus.NEAR_END)

    def continue_without_receipt(self) -> None:
        if self._payments is not None and self.bill is not None:
            self._begin(with_receipt=False)

    def _begin(self, *, with_receipt: bool, paper_low: bool = False) -> None:
        assert self.bill is not None
        self._with_receipt = with_receipt
        self.amount_text = self.bill.total_due.display()
        self.house_no = str(self.bill.house)
        paper_note = "pay.no_receipt" if not with_receipt else ("pay.paper_low" if paper_low else "")
        self.bank.start(BankCardRequest(
            BankCardFor("bill", self.amount_text, house_no=self.house_no, paper_note=paper_note),
            done=self._card_done, back=self._back_to_bill, unavailable=self._unavailable,
            fail_back_to=Screen.BILL))

    def _back_to_bill(self) -> None:
        self.nav.screen = Screen.BILL

    def _unavailable(self) -> None:
        self.show_result("unavailable", "result.unavailable.title", "pay.host_unavailable", action="retry")

    def _card_done(self, swipe: CardSwipe, pin_block: bytes | None) -> None:
        assert self.bill is not None and pin_block is not None
        self.card_text = swipe.masked_pan
        self.nav.screen = Screen.PROCESSING
        self._spawn(self._pay(self.bill, swipe, pin_block))   # never cancelled (go_idle refuses)

    async def _pay(self, bill: Any, swipe: CardSwipe, pin_block: bytes) -> None:
        assert self._payments is not None
        try:
            outcome = await self._payments.pay(bill, swipe, pin_block)
        except HostUnavailable:
            self._unavailable()
            return
        except OutcomeUnknown:
            self.bank.drop()
            self.show_result("unknown", "result.unknown.title", "error.outcome_unknown")
            return
        except Exception as exc:  # noqa: BLE001
            self.nav.screen = Screen.BILL    # leave "processing" so the message can show
            self._fail(exc, "payment")
            return
        if outcome.approved:
            self._approved(outcome)
        else:
            self._declined(outcome)

    def _approved(self, outcome: PaymentOutcome) -> None:
        self.bank.drop()
        self.reference = outcome.reference
        self.card_text = outcome.masked_pan
        self.amount_text = outcome.amount.display()
        self.receipt_state = "printing" if self._with_receipt else "skipped"
        if self._with_receipt:
            self.nav.print_in_background(self._print(outcome.txn_id))   # not self._task: Done must not stop it
        self.show_result("approved", "result.approved.title", "result.approved")

    async def _print(self, txn_id: str) -> None:
        assert self._payments is not None
        printed = await self._payments.print_receipt(txn_id)
        if self.nav.screen == Screen.RESULT and self.result_kind == "approved":
            self.receipt_state = "printed" if printed else "not_printed"

    def _declined(self, outcome: PaymentOutcome) -> None:
        code = outcome.decline_code
        if code == "wrong_pin" and outcome.tries_left != 0 and self.bank.has_card:
            if outcome.tries_left is None:
                self.bank.again("pin.wrong_plain")
            else:
                self.bank.again("pin.wrong", outcome.tries_left)
            return
        self.bank.drop()
        decline = decline_for(code, BANK, OTHER_DECLINE)
        self.show_result("declined", "result.declined.title", decline.body, action=decline.action)

    def result_next(self) -> None:
        """The result screen's main button."""
        action = self.result_action
        if action == "another_card":
            self.bank.start_swipe()
        elif action == "retry":
            if self.bank.has_card:
                self.bank.again("pin.again")     # not sent: the same card, a fresh PIN block
            else:
                self.bank.start_swipe()
        elif action == "lookup_again":
            self.lookup_again()
        else:
            self.nav.go_idle()

    def _fail(self, exc: BaseException, step: str) -> None:
        log_failure(log, "payment", step, exc)
        self.bank.drop()
        self.nav.show(payment_message(exc, Screen.BILL))

    def _forget_payment(self) -> None:
        self.card_text = self.amount_text = self.house_no = ""
        self.reference = self.receipt_state = ""
        self._with_receipt = True

    # --- keypad ---------------------------------------------------------------
    def press(self, key: str) -> None:
        if self.busy:
            return
        if key == "back":
            self.house_text = self.house_text[:-1]
        elif key == "clear":
            self.house_text = ""
        elif key in KEYS:
            candidate = self.house_text + key
            if len(candidate) > MAX_TYPED or not is_plausible_prefix(candidate):
                self._set_hint("entry.hint.refused", key, error=True)
                return
            self.house_text = candidate
        else:
            raise ValueError(f"unknown key {key!r}")
        self._set_hint(self._typing_hint())

    def _typing_hint(self) -> str:
        try:
            HouseNumber.parse(self.house_text)
        except BadHouseNumber:
            return "entry.hint.continue"
        return "entry.hint.ready"

    def _set_hint(self, key: str, arg: str = "", *, error: bool = False) -> None:
        self.hint_key, self.hint_arg, self.hint_is_error = key, arg, error

    def confirm(self) -> None:
        if self.busy:
            return  # no double submit
        text = self.house_text
        try:
            HouseNumber.parse(text)
        except BadHouseNumber:
            incomplete = is_plausible_prefix(text)
            self._set_hint("entry.hint.incomplete" if incomplete else "error.bad_house_number", error=True)
            return
        self._start_lookup(text)

    def lookup_again(self) -> None:
        """The bill changed under a payment: every flow forgets it; look it up afresh."""
        self._forget_payment()
        self.nav.reset_others(self)
        self.retry()

    def retry(self) -> None:
        if self._looked_up and not self.busy:
            self.house_text = self._looked_up
            self.nav.screen = Screen.ENTRY
            self._start_lookup(self._looked_up)

    # --- the lookup -------------------------------------------------------------
    def _start_lookup(self, text: str) -> None:
        self.busy = True
        self._looked_up = text
        self._task = self._spawn(self._lookup(text))

    async def _lookup(self, text: str) -> None:
        try:
            bill = await self._bills.lookup(text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            if not isinstance(exc, KeyedError):
                log.exception("bill lookup failed unexpectedly")
            else:
                log.info("bill lookup %s: %s (%s)", text, type(exc).__name__, exc)
            self.busy = False
            self.nav.show(lookup_message(exc))
            return
        finally:
            self._task = None
        self.busy = False
        self.bill = bill
        self.nav.screen = Screen.BILL

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.busy = False
