"""卡务 card services' flow (see the package's docstring for the screens): which
step the card holder is on, what they chose, and the wallet service's answers."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty

from kiosk.cards.epurse_crypto import Wallet
from kiosk.devices.ports import PinKey
from kiosk.domain.errors import (CardBlacklisted, CardFault, CardPinBlocked, CardPinWrong, CardRemoved, CardTorn,
                                 HostUnavailable, KioskError, NotOurCard, NotTheSameCard, OutcomeUnknown,
                                 PaymentsSuspended, PinEntryCancelled, WalletInsufficient, WalletLimitExceeded)
from kiosk.domain.money import Money
from kiosk.screens.bank_card import PIN_SLOTS, BankCardFor, BankCardRequest, BankCardStep
from kiosk.screens.card_services.amount import AmountEntry
from kiosk.screens.card_services.tear import TearWait
from kiosk.screens.messages import CARD_CENTRE, Decline, Outcome, decline_for, log_failure
from kiosk.screens.navigation import Message, Navigator, Screen, Spawn

if TYPE_CHECKING:
    from kiosk.domain.bill import HouseholdBill
    from kiosk.domain.card import CardSwipe
    from kiosk.services.payment import PaymentService
    from kiosk.services.wallet import WalletOutcome, WalletService

log = logging.getLogger(__name__)

# screens on which the card in the reader is the one being served: taking it out ends the step
CARD_STEPS = (Screen.CARD, Screen.CARD_AMOUNT, Screen.CARD_PIN, Screen.CARD_WALLET)
OTHER_DECLINE = Decline("card.decline.other", "")
APPROVED_TITLE = {"load": "card.result.load.title", "unload": "card.result.unload.title",
                  "pay": "card.result.pay.title", "change_pin": "card.result.pin.title"}
KIND_OP = {"load": "load", "unload": "unload", "purchase": "pay"}   # WalletOutcome.kind -> op


class CardServices(AmountEntry, TearWait, Outcome):
    reading = BooleanProperty(False)         # a card is being read (card_insert)
    bill = ObjectProperty(None, allownone=True)   # the bill paid from the wallet (op "pay")
    # --- card PIN on the PIN pad ------------------------------------------------
    pin_stage = StringProperty("card")       # card | old | new | again
    pin_digits = NumericProperty(0)
    pin_note = StringProperty("")
    pin_tries = NumericProperty(0)
    # --- result (with Outcome's) --------------------------------------------------
    result_balance = StringProperty("")      # the wallet's balance after the write
    result_wallet = StringProperty("")       # "EP" | "ED" | ""
    masked_pan = StringProperty("")

    screens = frozenset({Screen.CARD_INSERT, Screen.CARD, Screen.CARD_AMOUNT, Screen.CARD_PIN, Screen.CARD_WALLET,
                         Screen.CARD_PROCESSING, Screen.CARD_RESULT, Screen.CARD_TEAR})
    actions = frozenset({"card_again"})
    result_screen = Screen.CARD_RESULT

    def __init__(self, nav: Navigator, bank: BankCardStep, wallet: WalletService, payments: PaymentService | None,
                 spawn: Spawn, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nav = nav
        self.bank = bank
        self.service = wallet
        self._payments = payments
        self._spawn = spawn
        self._watching = False
        self._gen = 0                        # bumped by reset(): late answers of a left flow are dropped
        self._pin_task: asyncio.Task[None] | None = None
        self._at_bank = False                # the bank card step is this flow's (load / unload)
        self._lookup_again: Callable[[], None] | None = None   # the bill changed: its flow looks it up again
        self._swipe: CardSwipe | None = None  # the bank card (load / unload), in memory only
        self._card_pin: str | None = None    # card PINs live here only until the card has them
        self._new_pin: str | None = None
        self._old_pin: str | None = None

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

    def _watch(self) -> None:
        if not self._watching:
            self._watching = True
            self.service.watch(self._device_event)

    def _device_event(self, reader: str, present: bool) -> None:
        # a device thread: widgets and properties only on Kivy's clock
        Clock.schedule_once(lambda _dt: self.on_card_event(reader, present))

    async def _probe(self, gen: int) -> None:
        """A card may be in a reader already (left in, or put there first)."""
        for reader in self.service.readers:
            present = await self._present_in(reader)
            if present and gen == self._gen:
                self.on_card_event(reader, True)
                return

    async def _present_in(self, reader: str) -> bool:
        try:
            return await asyncio.to_thread(self.service.card_present, reader)
        except KioskError:
            return False

    def on_card_event(self, reader: str, present: bool) -> None:
        """A card arrived in or left a reader (on Kivy's thread)."""
        screen = self.nav.screen
        if present:
            if screen == Screen.CARD_INSERT and not self.reading:
                self._present(reader)
            elif screen == Screen.CARD_TEAR and not self.tear_busy:
                self._resume(reader)
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

    # --- reading the card -------------------------------------------------------------
    def _present(self, reader: str) -> None:
        self.reading = True
        self._spawn(self._read(reader, self._gen))

    async def _read(self, reader: str, gen: int) -> None:
        if not await self.nav.hold(Screen.CARD_INSERT):
            self.reading = False
            return
        try:
            view = await self.service.present(reader)
        except asyncio.CancelledError:
            raise
        except (CardRemoved, CardFault) as exc:
            if gen == self._gen:
                self.reading = False
                # a card that left while it was read (or was on its way out): keep waiting
                if await self._present_in(reader) and gen == self._gen:
                    self._fail(exc, "reading the card")
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            if gen == self._gen:
                self.reading = False
                self._fail(exc, "reading the card")
            return
        if gen != self._gen:
            return
        self.reading = False
        self.view = view
        self.nav.dispatch("on_activity")
        self.nav.screen = Screen.CARD_WALLET if self.op == "pay" else Screen.CARD

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

    # --- the card PIN on the PIN pad ---------------------------------------------------
    def start_card_pin(self, stage: str, note: str = "", tries: int = 0) -> None:
        self._stop_pin()
        self.pin_stage, self.pin_note, self.pin_tries = stage, note, tries
        self.pin_digits = 0
        self.nav.screen = Screen.CARD_PIN
        self._pin_task = self._spawn(self._collect_pin(stage, self._gen))

    def _on_pin_key(self, _key: PinKey, digits: int) -> None:
        self.pin_digits = min(digits, PIN_SLOTS)
        self.nav.dispatch("on_activity")

    async def _collect_pin(self, stage: str, gen: int) -> None:
        if not await self.nav.hold(Screen.CARD_PIN):
            return
        try:
            pin = await self.service.collect_card_pin(self._on_pin_key)
        except asyncio.CancelledError:
            raise
        except PinEntryCancelled:
            if gen == self._gen:
                self._pin_task = None
                self.nav.go_idle()           # Cancel on the pad: nothing happened
            return
        except Exception as exc:  # noqa: BLE001
            if gen == self._gen:
                self._pin_task = None
                self._fail(exc, "card PIN entry")
            return
        if gen != self._gen:
            return
        self._pin_task = None
        self.nav.dispatch("on_activity")
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

    def _stop_pin(self) -> None:
        if self._pin_task is not None:
            self._pin_task.cancel()
            self._pin_task = None
            self._spawn(self.service.cancel_pin_entry())

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

    # --- outcomes ------------------------------------------------------------------------
    def _approved(self, outcome: WalletOutcome) -> None:
        self._clear_pins()
        self._drop_swipe()
        op = KIND_OP.get(outcome.kind, self.op)
        self.op = op
        self.amount_text = outcome.amount.display()
        self.result_wallet = outcome.wallet.name
        self.result_balance = outcome.new_balance.display() if outcome.new_balance is not None else ""
        self.masked_pan = outcome.masked_pan
        self.reference = outcome.reference
        self.receipt_state = "printing"
        self.nav.print_in_background(self._print(outcome.txn_id, self._gen))
        self.show_result("approved", APPROVED_TITLE[op], f"card.result.{op}")

    async def _print(self, txn_id: str, gen: int) -> None:
        try:
            printed = await self.service.print_receipt(txn_id)
        except Exception:  # noqa: BLE001 - the transaction stands; only the paper failed
            log.exception("card services: receipt for %s", txn_id)
            printed = False
        if gen == self._gen and self.nav.screen == Screen.CARD_RESULT:
            self.receipt_state = "printed" if printed else "not_printed"

    def _declined(self, outcome: WalletOutcome) -> None:
        code = outcome.decline_code
        if code == "wrong_pin" and outcome.tries_left != 0 and self._swipe is not None and self.op == "load":
            if outcome.tries_left is None:
                self.bank.again("pin.wrong_plain")
            else:
                self.bank.again("pin.wrong", outcome.tries_left)
            return
        decline = decline_for(code, CARD_CENTRE, OTHER_DECLINE)
        action = decline.action
        if action == "another_card" and self.op not in ("load", "unload"):
            action = ""
        if action != "another_card":         # another bank card keeps the card PIN already typed
            self._drop_swipe()
            self._clear_pins()
        self.show_result("declined", "card.result.declined.title", decline.body, action=action)

    def _failed_op(self, exc: BaseException) -> None:
        """A money step that did not complete: what happened, and the way out."""
        if isinstance(exc, CardTorn):
            self._start_tear(exc.serial)
        elif self.service.torn is not None:
            self._start_tear(self.service.torn.serial)
        elif isinstance(exc, CardPinWrong) and exc.tries_left != 0:
            stage = "old" if self.op == "change_pin" else "card"
            self._card_pin = self._old_pin = self._new_pin = None
            self.start_card_pin(stage, "card.pin.wrong", exc.tries_left)
        elif isinstance(exc, CardPinWrong):
            self._clear_pins()
            self._drop_swipe()
            self.nav.show(self._message("error.card_pin_blocked", title="card.msg.pin_blocked.title"))
        elif isinstance(exc, (WalletLimitExceeded, WalletInsufficient)) and self.op in ("load", "unload"):
            self._clear_pins()
            self._drop_swipe()
            self._amount_screen()
            self._set_amount_note(exc.message_key)
        elif isinstance(exc, HostUnavailable):
            self._unavailable()
        elif isinstance(exc, OutcomeUnknown):
            self._clear_pins()
            self._drop_swipe()
            self.show_result("unknown", "card.result.unknown.title", "card.result.unknown")
        else:
            self._clear_pins()
            self._drop_swipe()
            self._fail(exc, self.op)

    def forget_approval(self) -> None:
        self.receipt_state = self.reference = self.result_balance = self.result_wallet = ""

    def result_next(self) -> None:
        """The result screen's main button."""
        action = self.result_action
        if action == "another_card":
            self.bank.start_swipe()
        elif action == "change_amount":
            self._amount_screen()
        elif action == "lookup_again" and self._lookup_again is not None:
            self._lookup_again()
        elif action == "retry":
            self.retry()
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
        key = exc.message_key if isinstance(exc, KioskError) else "error.generic"
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
        if screen == Screen.CARD_INSERT:
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

    def _clear_pins(self) -> None:
        self._card_pin = self._old_pin = self._new_pin = None
        self.pin_digits = 0

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
