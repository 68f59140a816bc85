"""卡务 card services' flow (see the package's docstring for the screens): which
step the card holder is on, what they chose, and the wallet service's answers."""
from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from kivy.properties import ObjectProperty

from common.epurse import Wallet
from common.errors import KeyedError
from kiosk.domain.errors import (CardBlacklisted, CardFault, CardPinBlocked, CardRemoved, NotOurCard,
                                 NotTheSameCard, PaymentsSuspended)
from common.money import Money
from kiosk.screens.bank_card import BankCardFor, BankCardRequest, BankCardStep
from kiosk.screens.card_services.amount import AmountEntry
from kiosk.screens.card_services.onecard import ONECARD_SCREENS, OneCardSteps
from kiosk.screens.card_services.outcomes import APPROVED_TITLE, CardOutcomes
from kiosk.screens.card_services.pin import CardPinEntry
from kiosk.screens.card_services.reading import CardReading
from kiosk.screens.card_services.tear import TearWait
from kiosk.screens.messages import log_failure
from kiosk.screens.navigation import Message, Navigator, Screen, Spawn

if TYPE_CHECKING:
    from kiosk.domain.bill import HouseholdBill
    from common.bank_card import CardSwipe
    from kiosk.services.bills import BillService
    from kiosk.services.onecard import OneCardService
    from kiosk.services.onecard_blacklist import OneCardBlacklistService
    from kiosk.services.payment import PaymentService
    from kiosk.services.wallet_view import WalletOutcome
    from kiosk.services.wallet import WalletService

log = logging.getLogger(__name__)

# screens on which the card in the reader is the one being served: taking it out ends the step
CARD_STEPS = (Screen.CARD, Screen.CARD_AMOUNT, Screen.CARD_PIN, Screen.CARD_WALLET)


# The parts' order matters only to Python's MRO; each declares what it uses of the others.
class CardServices(CardPinEntry, CardReading, AmountEntry, TearWait, CardOutcomes):
    bill = ObjectProperty(None, allownone=True)   # the bill paid from the wallet (op "pay")

    screens = frozenset({Screen.CARD_INSERT, Screen.CARD, Screen.CARD_AMOUNT, Screen.CARD_PIN, Screen.CARD_WALLET,
                         Screen.CARD_PROCESSING, Screen.CARD_RESULT, Screen.CARD_TEAR}) | ONECARD_SCREENS
    actions = frozenset({"card_again"})
    result_screen = Screen.CARD_RESULT

    def __init__(self, nav: Navigator, bank: BankCardStep, wallet: WalletService, payments: PaymentService | None,
                 spawn: Spawn, *, onecard: OneCardService | None = None, bills: BillService | None = None,
                 onecard_blacklist: OneCardBlacklistService | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nav = nav
        self.bank = bank
        self.service = wallet
        self._payments = payments
        self._spawn = spawn
        self._gen = 0                        # bumped by reset(): late answers of a left flow are dropped
        self._at_bank = False                # the bank card step is this flow's (load / unload)
        self._lookup_again: Callable[[], None] | None = None   # the bill changed: its flow looks it up again
        self._swipe: CardSwipe | None = None  # the bank card (load / unload), in memory only
        # the estate one-card, tapped on the contactless reader (onecard.py)
        self.onecard = OneCardSteps(nav, bank, onecard, bills, wallet.limits, spawn, self,
                                    blacklist=onecard_blacklist) if onecard is not None else None

    # --- entry points ---------------------------------------------------------------
    def start(self, op: str = "view") -> None:
        """Card services from the idle screen ("view"); paying a bill: pay_bill."""
        self.reset()
        self.op = op
        self._watch()
        self.nav.screen = Screen.CARD_INSERT
        self._spawn(self._probe(self._gen))

    def pay_bill(self, bill: HouseholdBill, lookup_again: Callable[[], None]) -> None:
        """IC卡钱包 on the bill screen: present the card, then choose the wallet."""
        self.start("pay")
        self.bill, self._lookup_again = bill, lookup_again
        self.amount_text = bill.total_due.display()

    def reopen(self) -> None:
        """Back to the card screen with fresh balances (the card is read again)."""
        self.start("view")

    def on_card_event(self, reader: str, present: bool) -> None:
        """A card arrived in or left a reader (on Kivy's thread)."""
        screen = self.nav.screen
        if present:
            if screen == Screen.CARD_INSERT and not self.reading:
                self._present(reader)
            elif screen == Screen.CARD_TEAR and not self.tear_busy:
                self._resume(reader)
            return
        if self.onecard is not None and self.onecard.view is not None and reader == "contactless":
            self.nav.dispatch("on_activity")
            self.onecard.card_left(screen)
            return
        view = self.view
        if view is None or reader != view.reader:
            return
        self.nav.dispatch("on_activity")
        if screen == Screen.CARD:
            self.nav.go_idle()               # the card holder took the card: done
        elif screen in CARD_STEPS or (screen in self.bank.screens and self._at_bank):
            self._leave_step()
            self.nav.show(self._message("error.card_removed", action="card_again"))

    # --- the card screen's actions ----------------------------------------------------
    def start_load(self) -> None:
        if self._suspended():
            return
        self.op = "load"
        self.wallet = "EP"
        self._amount_screen()

    def start_unload(self) -> None:
        if self._suspended() or self.view is None or not self.view.ed_balance:
            return
        self.op = "unload"
        self.wallet = "ED"
        self._amount_screen()

    def start_change_pin(self) -> None:
        self.op = "change_pin"
        self._old_pin = self._new_pin = None
        self.start_card_pin("old")

    def _suspended(self) -> bool:
        """No new money step while an earlier one is unsettled: say so at once."""
        try:
            if self._payments is not None:
                self._payments.check_can_pay()
        except PaymentsSuspended as exc:
            self.nav.show(self._message(exc.message_key, title="card.msg.suspended.title", tone="info"))
            return True
        return False

    def _pin_typed(self, stage: str, pin: str) -> None:
        """A PIN typed on the pad (pin.py): the next stage, or the step it was for."""
        if stage == "old":
            self._old_pin = pin
            self.start_card_pin("new")
        elif stage == "new":
            self._new_pin = pin
            self.start_card_pin("again")
        elif stage == "again":
            if pin != self._new_pin:
                self._old_pin = self._new_pin = None
                self.start_card_pin("old", "card.pin.mismatch")
                return
            self._process(self._change_pin())
        else:
            self._card_pin = pin
            if self.op == "pay":
                self._process(self._pay())
            elif self.op == "unload" and self._swipe is not None:
                self._process(self._unload())  # a wrong card PIN, typed again: the same bank card
            elif self.op == "load" and self._swipe is not None:
                self.bank.again("pin.again")   # a fresh bank PIN block: the old one is never kept
            else:
                self._to_bank_card()

    def cancel(self) -> None:
        """Cancel on a card screen: back to the start, nothing happened."""
        self.nav.go_idle()

    # --- the bank card (the shared swipe and PIN step) ---------------------------------------
    def _to_bank_card(self) -> None:
        assert self.view is not None
        self._at_bank = True
        self.bank.start(BankCardRequest(
            BankCardFor(self.op, self.amount_text, card_tail=self.view.serial[-4:], card_wallet=self.wallet),
            done=self._bank_card_done, back=self._back_from_bank, unavailable=self._unavailable,
            fail_back_to=Screen.IDLE, with_pin=self.op != "unload"))   # an unload pays to the bank card: no PIN

    def _bank_card_done(self, swipe: CardSwipe, pin_block: bytes | None) -> None:
        self._swipe = swipe
        if self.op == "unload":
            self._process(self._unload())
        elif self.wallet == "ED" and self._card_pin is None:   # never a verify without a PIN: it costs a try
            self._card_pin = self._old_pin = self._new_pin = None
            self.start_card_pin("card")
        else:
            assert pin_block is not None
            self._process(self._load(pin_block))

    def _back_from_bank(self) -> None:
        """Back on the bank card's swipe / PIN screen (or nobody swiped): to the amount again."""
        self._drop_swipe()
        self._clear_pins()
        self.amount_typed = ""
        self.nav.screen = Screen.CARD_AMOUNT

    def _unavailable(self) -> None:
        self.show_result("unavailable", "card.result.unavailable.title", "card.result.unavailable", action="retry")

    # --- processing -------------------------------------------------------------------------
    def choose_wallet(self, name: str) -> None:
        """Paying the bill: EP goes ahead, ED asks for the card PIN first."""
        bill, view = self.bill, self.view
        if bill is None or view is None or view.balance(Wallet[name]) < bill.total_due:
            return                           # greyed out: the screen says how much is missing
        self.wallet = name
        self.amount_text = bill.total_due.display()
        if name == "ED":
            self.start_card_pin("card")
        else:
            self._process(self._pay())

    def _process(self, work: Coroutine[Any, Any, Any]) -> None:
        self.nav.screen = Screen.CARD_PROCESSING
        self._spawn(self._run(work))   # never cancelled: go_idle refuses meanwhile

    async def _run(self, work: Coroutine[Any, Any, WalletOutcome | None]) -> None:
        if not await self.nav.hold(Screen.CARD_PROCESSING):   # held since the card was read: never waits
            work.close()
            return
        try:
            outcome = await work
        except Exception as exc:  # noqa: BLE001 - every failure is shown
            self._failed_op(exc)
            return
        if outcome is None:
            self._clear_pins()
            self.show_result("approved", APPROVED_TITLE["change_pin"], "card.result.pin")
        elif outcome.approved:
            self._approved(outcome)
        else:
            self._declined(outcome)

    async def _load(self, pin_block: bytes) -> WalletOutcome:
        assert self.view is not None and self._swipe is not None
        return await self.service.load(self.view, Wallet[self.wallet], self._amount, self._swipe, pin_block,
                                       self._card_pin if self.wallet == "ED" else None)

    async def _unload(self) -> WalletOutcome:
        assert self.view is not None and self._swipe is not None and self._card_pin is not None
        return await self.service.unload(self.view, self._amount, self._card_pin, self._swipe)

    async def _pay(self) -> WalletOutcome:
        assert self.view is not None and self.bill is not None
        return await self.service.pay_bill(self.view, Wallet[self.wallet], self.bill,
                                           self._card_pin if self.wallet == "ED" else None)

    async def _change_pin(self) -> None:
        assert self.view is not None and self._old_pin is not None and self._new_pin is not None
        await self.service.change_pin(self.view, self._old_pin, self._new_pin)

    def retry(self) -> None:
        """The result's Try again: nothing happened, so the same step once more."""
        if self.op == "load" and self._swipe is not None:
            self.bank.again("pin.again")     # a fresh PIN block (new working keys void the old one)
        elif self.op == "unload" and self._swipe is not None and self._card_pin is not None:
            self._process(self._unload())
        elif self.op == "pay" and self.view is not None:
            self._process(self._pay())
        else:
            self.nav.go_idle()

    # --- messages and ways out ----------------------------------------------------------------
    def _message(self, body: str, *, title: str = "card.msg.title", action: str = "home", tone: str = "error",
                 back_to: str | None = None) -> Message:
        if back_to is None:
            back_to = Screen.BILL if self.op == "pay" and self.bill is not None else Screen.IDLE
        return Message(title, body, action=action, back_to=back_to, tone=tone)

    def _fail(self, exc: BaseException, step: str) -> None:
        log_failure(log, "card services,", step, exc)
        self.nav.show(self.message_for(exc))

    def message_for(self, exc: BaseException) -> Message:
        key = exc.message_key if isinstance(exc, KeyedError) else "error.generic"
        if isinstance(exc, CardBlacklisted):
            return self._message(key, title="card.msg.lost.title")
        if isinstance(exc, PaymentsSuspended):
            return self._message(key, title="card.msg.suspended.title", tone="info")
        if isinstance(exc, CardPinBlocked):
            return self._message(key, title="card.msg.pin_blocked.title")
        if isinstance(exc, (NotOurCard, CardRemoved, CardFault, NotTheSameCard)):
            return self._message(key, action="card_again")
        return self._message(key)

    def message_action(self, action: str) -> None:
        if action == "card_again":
            if self.op == "pay" and self.bill is not None and self._lookup_again is not None:
                self.pay_bill(self.bill, self._lookup_again)
            else:
                self.start("view")
        else:
            self.nav.go_idle()

    def back(self) -> None:
        """Back on a card screen: one step back, never into the middle of a money step."""
        screen = self.nav.screen
        if screen in ONECARD_SCREENS and self.onecard is not None:
            self.onecard.back()
        elif screen == Screen.CARD_INSERT:
            self.reset()
            self.nav.go_idle()               # (reset forgot the op: never back to the bill from here)
        elif screen == Screen.CARD_AMOUNT:
            self.op = "view"
            self.nav.screen = Screen.CARD
        elif screen == Screen.CARD_PIN:
            self._stop_pin()
            self._clear_pins()
            if self.op in ("load", "unload"):
                self._amount_screen()
            elif self.op == "pay":
                self.nav.screen = Screen.CARD_WALLET
            else:
                self.op = "view"
                self.nav.screen = Screen.CARD
        elif screen == Screen.CARD_WALLET:
            had_bill = self.bill is not None
            self.reset()
            self.nav.screen = Screen.BILL if had_bill else Screen.IDLE
        else:                               # card, card_result
            self.nav.go_idle()

    # --- forgetting ------------------------------------------------------------------------------
    def _leave_step(self) -> None:
        self._stop_pin()
        self._clear_pins()
        if self.nav.screen in self.bank.screens:
            self.bank.stop()
        self._drop_swipe()

    def _drop_swipe(self) -> None:
        self._swipe = None
        self.bank.drop()

    def reset(self) -> None:
        """Forget the card, the amount and every PIN (go_idle, a new start)."""
        self._gen += 1
        self._stop_pin()
        self._stop_tear_clock()
        self._clear_pins()
        self._swipe = None
        self._amount = Money(0)
        self._at_bank = False
        self._lookup_again = None
        self.view = self.bill = None
        self.reading = self.tear_busy = False
        self.op = ""
        self.wallet = "EP"
        self.amount_typed = self.amount_text = ""
        self._set_amount_note("")
        self.pin_note = self.tear_note = ""
        self.result_action = self.masked_pan = self.reference = self.receipt_state = ""
        self.result_balance = self.result_wallet = ""
        if self.onecard is not None:
            self.onecard.reset()
