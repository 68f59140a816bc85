"""卡务 card services: which step the card holder is on, what they chose, and
the wallet service's answers. It routes only: every rule about cards and money
lives in WalletService (kiosk/services/wallet.py); the amount checks here only
refuse, before anything happens, what the service would refuse anyway.

    idle ─卡务─▶ card_insert ─card─▶ card ─圈存─▶ card_amount ─(ED: card_pin)─▶ swipe ─▶ pin ─┐
                                        ├─圈提─▶ card_amount ─▶ card_pin ─▶ swipe ───────────┤
                                        └─修改密码─▶ card_pin (old, new, again) ──────────────┤
    bill ─IC卡钱包─▶ card_insert ─▶ card_wallet ─(ED: card_pin)─────────────────────────────┤
                                                                                         ▼
                           card_tear ◀─card pulled during the write── card_processing ─▶ card_result
                              ├─ the same card back ─▶ card_result (as the card proves it)
                              └─ 60 s / "I don't have it" ─▶ message "settled next time, nothing lost"

The bank card steps (swipe, pin) are the bill payment's own (Flow.start_swipe,
Flow.start_pin with Flow.purpose = load | unload). Card events come from the
wallet service's watcher on a device thread and hop to Kivy's clock.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty

from common.epurse import Wallet
from kiosk.devices.ports import PinKey
from kiosk.domain.errors import (CardBlacklisted, CardFault, CardPinBlocked, CardPinWrong, CardRemoved, CardTorn,
                                 HostUnavailable, KioskError, NotOurCard, OutcomeUnknown, PaymentsSuspended,
                                 PinEntryCancelled, ReaderFault, WalletInsufficient, WalletLimitExceeded)
from common.money import Money
from kiosk.screens import card_view

if TYPE_CHECKING:
    from common.bank_card import CardSwipe
    from kiosk.screens.flow import Flow
    from kiosk.services.payment import PaymentService
    from kiosk.services.wallet import WalletService
    from kiosk.services.wallet_view import WalletOutcome

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]

TEAR_WAIT_S = 60          # how long the tear screen waits for the same card
PIN_SLOTS = 6
# screens on which the card in the reader is the one being served: taking it out ends the step
CARD_STEPS = ("card", "card_amount", "card_pin", "card_wallet")

# A decline (docs/cards.md §5 codes) -> what to say and the way out:
# another_card (swipe another bank card), change_amount, lookup_again (the bill), "" (home).
CARD_DECLINE: dict[str, tuple[str, str]] = {
    "wrong_pin": ("decline.wrong_pin", "another_card"),
    "pin_locked": ("decline.pin_locked", "another_card"),
    "insufficient_funds": ("decline.insufficient_funds", "another_card"),
    "card_blocked": ("decline.card_blocked", "another_card"),
    "expired_card": ("decline.expired_card", "another_card"),
    "daily_limit": ("decline.daily_limit", "another_card"),
    "unknown_card": ("decline.unknown_card", "another_card"),
    "card_blacklisted": ("error.card_blacklisted", ""),
    "card_lost": ("error.card_blacklisted", ""),
    "unknown_ic_card": ("card.decline.unknown_ic_card", ""),
    "mac1_invalid": ("card.decline.mac1_invalid", ""),
    "wallet_limit": ("error.wallet_limit", "change_amount"),
    "card_not_written": ("card.decline.card_not_written", ""),
    "bill_changed": ("decline.bill_changed", "lookup_again"),
    "nothing_due": ("decline.nothing_due", ""),
    "payment_pending": ("card.decline.payment_pending", ""),
}
APPROVED_TITLE = {"load": "card.result.load.title", "unload": "card.result.unload.title",
                  "pay": "card.result.pay.title", "change_pin": "card.result.pin.title"}
KIND_OP = {"load": "load", "unload": "unload", "purchase": "pay"}   # WalletOutcome.kind -> op


class CardFlow(EventDispatcher):
    op = StringProperty("")                  # "" | view | load | unload | change_pin | pay
    view = ObjectProperty(None, allownone=True)   # kiosk.services.wallet.CardView
    reading = BooleanProperty(False)         # a card is being read (card_insert)
    # --- amount (load / unload) ------------------------------------------------
    wallet = StringProperty("EP")            # "EP" | "ED"
    amount_typed = StringProperty("")
    amount_note = StringProperty("")         # a catalogue key, or ""
    amount_note_amount = StringProperty("")  # its {amount}
    amount_text = StringProperty("")         # the amount going ahead, "¥100.00"
    # --- card PIN on the PIN pad ------------------------------------------------
    pin_stage = StringProperty("card")       # card | old | new | again
    pin_digits = NumericProperty(0)
    pin_note = StringProperty("")
    pin_tries = NumericProperty(0)
    # --- result -----------------------------------------------------------------
    result_kind = StringProperty("approved")  # approved | declined | unknown | unavailable
    result_title = StringProperty("")
    result_body = StringProperty("")
    result_action = StringProperty("")       # "" | another_card | change_amount | lookup_again | retry
    result_balance = StringProperty("")      # the wallet's balance after the write
    result_wallet = StringProperty("")       # "EP" | "ED" | ""
    masked_pan = StringProperty("")
    reference = StringProperty("")
    receipt_state = StringProperty("")       # "" | printing | printed | not_printed
    # --- tear -------------------------------------------------------------------
    tear_tail = StringProperty("")
    tear_remaining = NumericProperty(0)
    tear_note = StringProperty("")           # "" | card.tear.not_same | card.tear.hold_still
    tear_busy = BooleanProperty(False)

    def __init__(self, flow: Flow, wallet: WalletService, payments: PaymentService | None, spawn: Spawn,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flow = flow
        self.service = wallet
        self._payments = payments
        self._spawn = spawn
        self.tear_wait_s = TEAR_WAIT_S
        self._watching = False
        self._gen = 0                        # bumped by reset(): late answers of a left flow are dropped
        self._pin_task: asyncio.Task[None] | None = None
        self._tear_clock: Any = None
        self._amount = Money(0)
        self._swipe: CardSwipe | None = None  # the bank card (load / unload), in memory only
        self._card_pin: str | None = None    # card PINs live here only until the card has them
        self._new_pin: str | None = None
        self._old_pin: str | None = None

    # --- entry points ---------------------------------------------------------------
    def start(self, op: str = "view") -> None:
        """Card services from the idle screen ("view") or paying the bill ("pay")."""
        self.reset()
        self.op = op
        if op == "pay" and self.flow.bill is not None:
            self.amount_text = self.flow.bill.total_due.display()
        self._watch()
        self.flow.screen = "card_insert"
        self._spawn(self._probe(self._gen))

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
        screen = self.flow.screen
        if present:
            if screen == "card_insert" and not self.reading:
                self._present(reader)
            elif screen == "card_tear" and not self.tear_busy:
                self._resume(reader)
            return
        view = self.view
        if view is None or reader != view.reader:
            return
        self.flow.dispatch("on_activity")
        if screen == "card":
            self.flow.go_idle()              # the card holder took the card: done
        elif screen in CARD_STEPS or (screen in ("swipe", "pin") and self.flow.purpose != "bill"):
            self._leave_step()
            self.flow.show(self._message("error.card_removed", action="card_again"))

    # --- reading the card -------------------------------------------------------------
    def _present(self, reader: str) -> None:
        self.reading = True
        self._spawn(self._read(reader, self._gen))

    async def _read(self, reader: str, gen: int) -> None:
        if not await self.flow.hold("card_insert"):
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
        self.flow.dispatch("on_activity")
        self.flow.screen = "card_wallet" if self.op == "pay" else "card"

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
            self.flow.show(self._message(exc.message_key, title="card.msg.suspended.title", tone="info"))
            return True
        return False

    # --- amount -----------------------------------------------------------------------
    def _amount_screen(self) -> None:
        self.amount_typed = ""
        self._set_amount_note("")
        self.flow.screen = "card_amount"

    def bounds(self) -> card_view.Bounds | None:
        if self.view is None:
            return None
        if self.op == "unload":
            return card_view.unload_bounds(self.view)
        return card_view.load_bounds(self.view, Wallet[self.wallet], self.service.limits)

    def set_wallet(self, name: str) -> None:
        if self.op == "load" and name in ("EP", "ED"):
            self.wallet = name
            self._set_amount_note("")

    def press_amount(self, key: str) -> None:
        typed = card_view.type_amount(self.amount_typed, key)
        if typed is None:
            self._set_amount_note("card.amount.bad")
            return
        self.amount_typed = typed
        self._set_amount_note("")

    def preset(self, amount: Money) -> None:
        self.amount_typed = card_view.amount_text(amount)
        self._check_amount()

    def amount_next(self) -> None:
        amount = self._check_amount()
        if amount is None:
            return
        self._amount = amount
        self.amount_text = amount.display()
        if self.op == "unload" or self.wallet == "ED":
            self.start_card_pin("card")      # the passbook wants its PIN first
        else:
            self._to_bank_card()

    def _check_amount(self) -> Money | None:
        bounds = self.bounds()
        if bounds is None:
            return None
        amount = card_view.parse_amount(self.amount_typed)
        problem = card_view.amount_problem(amount, bounds)
        if problem is not None:
            self._set_amount_note(problem.key, problem.amount)
            return None
        self._set_amount_note("")
        return amount

    def _set_amount_note(self, key: str, amount: Money | None = None) -> None:
        self.amount_note_amount = amount.display() if amount is not None else ""
        self.amount_note = key

    # --- the card PIN on the PIN pad ---------------------------------------------------
    def start_card_pin(self, stage: str, note: str = "", tries: int = 0) -> None:
        self._stop_pin()
        self.pin_stage, self.pin_note, self.pin_tries = stage, note, tries
        self.pin_digits = 0
        self.flow.screen = "card_pin"
        self._pin_task = self._spawn(self._collect_pin(stage, self._gen))

    def _on_pin_key(self, _key: PinKey, digits: int) -> None:
        self.pin_digits = min(digits, PIN_SLOTS)
        self.flow.dispatch("on_activity")

    async def _collect_pin(self, stage: str, gen: int) -> None:
        if not await self.flow.hold("card_pin"):
            return
        try:
            pin = await self.service.collect_card_pin(self._on_pin_key)
        except asyncio.CancelledError:
            raise
        except PinEntryCancelled:
            if gen == self._gen:
                self._pin_task = None
                self.flow.go_idle()          # Cancel on the pad: nothing happened
            return
        except Exception as exc:  # noqa: BLE001
            if gen == self._gen:
                self._pin_task = None
                self._fail(exc, "card PIN entry")
            return
        if gen != self._gen:
            return
        self._pin_task = None
        self.flow.dispatch("on_activity")
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
                self.flow.start_pin("pin.again")   # a fresh bank PIN block: the old one is never kept
            else:
                self._to_bank_card()

    def cancel(self) -> None:
        """Cancel on a card screen: back to the start, nothing happened."""
        self.flow.go_idle()

    def _stop_pin(self) -> None:
        if self._pin_task is not None:
            self._pin_task.cancel()
            self._pin_task = None
            self._spawn(self.service.cancel_pin_entry())

    # --- the bank card (the bill payment's own swipe and PIN steps) ------------------------
    def _to_bank_card(self) -> None:
        self.flow.start_bank_card(self.op, self.amount_text)

    def bank_card_read(self, swipe: CardSwipe) -> None:
        """Flow: the bank card was swiped (unload: no bank PIN is needed)."""
        self._swipe = swipe
        self._process(self._unload())

    def bank_pin_entered(self, swipe: CardSwipe, pin_block: bytes) -> None:
        """Flow: the bank card and its PIN block are in (load)."""
        self._swipe = swipe
        self._process(self._load(pin_block))

    # --- processing -------------------------------------------------------------------------
    def choose_wallet(self, name: str) -> None:
        """Paying the bill: EP goes ahead, ED asks for the card PIN first."""
        bill, view = self.flow.bill, self.view
        if bill is None or view is None or view.balance(Wallet[name]) < bill.total_due:
            return                           # greyed out: the screen says how much is missing
        self.wallet = name
        self.amount_text = bill.total_due.display()
        if name == "ED":
            self.start_card_pin("card")
        else:
            self._process(self._pay())

    def _process(self, work: Coroutine[Any, Any, Any]) -> None:
        self.flow.screen = "card_processing"
        self._spawn(self._run(work))   # never cancelled: go_idle refuses meanwhile

    async def _run(self, work: Coroutine[Any, Any, WalletOutcome | None]) -> None:
        if not await self.flow.hold("card_processing"):   # held since the card was read: never waits
            work.close()
            return
        try:
            outcome = await work
        except Exception as exc:  # noqa: BLE001 - every failure is shown
            self._failed_op(exc)
            return
        if outcome is None:
            self._clear_pins()
            self._show_result("approved", APPROVED_TITLE["change_pin"], "card.result.pin")
        elif outcome.approved:
            self._approved(outcome)
        else:
            self._declined(outcome)

    async def _load(self, pin_block: bytes) -> WalletOutcome:
        assert self.view is not None and self._swipe is not None
        if self.wallet == "ED" and self._card_pin is None:   # never a verify without a PIN: it costs a try
            raise CardPinWrong(tries_left=-1, detail="no card PIN collected")
        return await self.service.load(self.view, Wallet[self.wallet], self._amount, self._swipe, pin_block,
                                       self._card_pin if self.wallet == "ED" else None)

    async def _unload(self) -> WalletOutcome:
        assert self.view is not None and self._swipe is not None and self._card_pin is not None
        return await self.service.unload(self.view, self._amount, self._card_pin, self._swipe)

    async def _pay(self) -> WalletOutcome:
        assert self.view is not None and self.flow.bill is not None
        return await self.service.pay_bill(self.view, Wallet[self.wallet], self.flow.bill,
                                           self._card_pin if self.wallet == "ED" else None)

    async def _change_pin(self) -> None:
        assert self.view is not None and self._old_pin is not None and self._new_pin is not None
        await self.service.change_pin(self.view, self._old_pin, self._new_pin)

    def retry(self) -> None:
        """The result's Try again: nothing happened, so the same step once more."""
        if self.op == "load" and self._swipe is not None:
            self.flow.start_pin("pin.again")   # a fresh PIN block (new working keys void the old one)
        elif self.op == "unload" and self._swipe is not None and self._card_pin is not None:
            self._process(self._unload())
        elif self.op == "pay" and self.view is not None:
            self._process(self._pay())
        else:
            self.flow.go_idle()

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
        self.flow.print_in_background(self._print(outcome.txn_id, self._gen))
        self._show_result("approved", APPROVED_TITLE[op], f"card.result.{op}")

    async def _print(self, txn_id: str, gen: int) -> None:
        try:
            printed = await self.service.print_receipt(txn_id)
        except Exception:  # noqa: BLE001 - the transaction stands; only the paper failed
            log.exception("card services: receipt for %s", txn_id)
            printed = False
        if gen == self._gen and self.flow.screen == "card_result":
            self.receipt_state = "printed" if printed else "not_printed"

    def _declined(self, outcome: WalletOutcome) -> None:
        code = outcome.decline_code
        if code == "wrong_pin" and outcome.tries_left != 0 and self._swipe is not None and self.op == "load":
            if outcome.tries_left is None:
                self.flow.start_pin("pin.wrong_plain")
            else:
                self.flow.start_pin("pin.wrong", outcome.tries_left)
            return
        body, action = CARD_DECLINE.get(code, ("card.decline.other", ""))
        if action == "another_card" and self.op not in ("load", "unload"):
            action = ""
        if action != "another_card":         # another bank card keeps the card PIN already typed
            self._drop_swipe()
            self._clear_pins()
        self._show_result("declined", "card.result.declined.title", body, action=action)

    def _failed_op(self, exc: BaseException) -> None:
        """A money step that did not complete: what happened, and the way out."""
        if isinstance(exc, CardTorn):
            self._start_tear(exc.serial)
        elif self.service.torn is not None:
            self._start_tear(self.service.torn.serial)
        elif isinstance(exc, CardPinWrong) and exc.tries_left != 0:
            stage = "old" if self.op == "change_pin" else "card"
            self._card_pin = self._old_pin = self._new_pin = None
            self.start_card_pin(stage, "card.pin.wrong" if exc.tries_left > 0 else "", max(0, exc.tries_left))
        elif isinstance(exc, CardPinWrong):
            self._clear_pins()
            self._drop_swipe()
            self.flow.show(self._message("error.card_pin_blocked", title="card.msg.pin_blocked.title"))
        elif isinstance(exc, (WalletLimitExceeded, WalletInsufficient)) and self.op in ("load", "unload"):
            self._clear_pins()
            self._drop_swipe()
            self._amount_screen()
            self._set_amount_note(exc.message_key)
        elif isinstance(exc, HostUnavailable):
            self._show_result("unavailable", "card.result.unavailable.title", "card.result.unavailable",
                              action="retry")
        elif isinstance(exc, OutcomeUnknown):
            self._clear_pins()
            self._drop_swipe()
            self._show_result("unknown", "card.result.unknown.title", "card.result.unknown")
        else:
            self._clear_pins()
            self._drop_swipe()
            self._fail(exc, self.op)

    def _show_result(self, kind: str, title: str, body: str, *, action: str = "") -> None:
        if kind != "approved":
            self.receipt_state = self.reference = self.result_balance = self.result_wallet = ""
        self.result_kind, self.result_title, self.result_body, self.result_action = kind, title, body, action
        self.flow.screen = "card_result"

    def result_next(self) -> None:
        """The result screen's main button."""
        action = self.result_action
        if action == "another_card":
            self.flow.start_swipe()
        elif action == "change_amount":
            self._amount_screen()
        elif action == "lookup_again":
            self.flow.lookup_again()
        elif action == "retry":
            self.retry()
        else:
            self.flow.go_idle()

    # --- tear --------------------------------------------------------------------------
    def _start_tear(self, serial: str) -> None:
        self._clear_pins()
        self._drop_swipe()
        self.tear_tail = card_view.serial_tail(serial)
        self.tear_note = ""
        self.tear_busy = False
        self.tear_remaining = self.tear_wait_s
        self._stop_tear_clock()
        self._tear_clock = Clock.schedule_interval(self._tear_tick, 1.0)
        self.flow.screen = "card_tear"
        self._spawn(self._probe(self._gen))

    def _tear_tick(self, _dt: float) -> None:
        if self.tear_busy:
            return                           # the card is back and being asked: let it answer
        self.tear_remaining = max(0, self.tear_remaining - 1)
        if self.tear_remaining == 0:
            self.give_up_tear()

    def _resume(self, reader: str) -> None:
        self.tear_busy = True
        self.tear_note = ""
        self._spawn(self._do_resume(reader, self._gen))

    async def _do_resume(self, reader: str, gen: int) -> None:
        from kiosk.domain.errors import NotTheSameCard

        try:
            outcome = await self.service.resume_torn(reader)
        except NotTheSameCard:
            note = "card.tear.not_same"
        except (CardRemoved, CardFault, ReaderFault) as exc:
            log.info("tear: the card came back but could not be asked: %s", exc)
            # still there: ask to hold it still; gone again (or the pull just seen late): say nothing
            note = "card.tear.hold_still" if await self._present_in(reader) else ""
        except Exception:  # noqa: BLE001 - keep waiting: the timeout leaves it to the card centre
            log.exception("tear: resuming failed")
            note = "card.tear.hold_still"
        else:
            self._stop_tear_clock()
            self.tear_busy = False
            if outcome.approved:
                self._approved(outcome)
            else:
                self._declined(outcome)
            return
        if gen == self._gen:
            self.tear_busy = False
            self.tear_note = note

    def give_up_tear(self) -> None:
        """The countdown ran out, or the card holder has not got the card: the
        card centre settles it when the card is next presented."""
        if self.tear_busy:
            return
        self._stop_tear_clock()
        self.tear_busy = True
        self._spawn(self._abandon())

    async def _abandon(self) -> None:
        try:
            await self.service.abandon_torn()
        except Exception:  # noqa: BLE001 - the journal still holds it; the message is still true
            log.exception("tear: abandoning failed")
        self.tear_busy = False
        self.flow.show(self._message("card.tear.abandoned", title="card.tear.abandoned.title", tone="info",
                                     back_to="idle"))

    def _stop_tear_clock(self) -> None:
        if self._tear_clock is not None:
            self._tear_clock.cancel()
            self._tear_clock = None

    # --- messages and ways out ----------------------------------------------------------------
    def _message(self, body: str, *, title: str = "card.msg.title", action: str = "home", tone: str = "error",
                 back_to: str | None = None) -> Any:
        from kiosk.screens.flow import Message

        if back_to is None:
            back_to = "bill" if self.op == "pay" and self.flow.bill is not None else "idle"
        return Message(title, body, action=action, back_to=back_to, tone=tone)

    def _fail(self, exc: BaseException, step: str) -> None:
        if isinstance(exc, KioskError):
            log.info("card services, %s: %s (%s)", step, type(exc).__name__, exc)
        else:
            log.error("card services, %s failed unexpectedly", step, exc_info=exc)
        self.flow.show(self.message_for(exc))

    def message_for(self, exc: BaseException) -> Any:
        key = exc.message_key if isinstance(exc, KioskError) else "error.generic"
        if isinstance(exc, CardBlacklisted):
            return self._message(key, title="card.msg.lost.title")
        if isinstance(exc, PaymentsSuspended):
            return self._message(key, title="card.msg.suspended.title", tone="info")
        if isinstance(exc, CardPinBlocked):
            return self._message(key, title="card.msg.pin_blocked.title")
        from kiosk.domain.errors import NotTheSameCard

        if isinstance(exc, (NotOurCard, CardRemoved, CardFault, NotTheSameCard)):
            return self._message(key, action="card_again")
        return self._message(key)

    def message_action(self, action: str) -> None:
        if action == "card_again":
            self.start("pay" if self.op == "pay" else "view")
        else:
            self.flow.go_idle()

    def back(self) -> None:
        """Back on a card screen: one step back, never into the middle of a money step."""
        screen = self.flow.screen
        if screen == "card_insert":
            self.reset()
            if self.op == "pay" and self.flow.bill is not None:
                self.flow.screen = "bill"
            else:
                self.flow.go_idle()
        elif screen == "card_amount":
            self.op = "view"
            self.flow.screen = "card"
        elif screen == "card_pin":
            self._stop_pin()
            self._clear_pins()
            if self.op in ("load", "unload"):
                self._amount_screen()
            elif self.op == "pay":
                self.flow.screen = "card_wallet"
            else:
                self.op = "view"
                self.flow.screen = "card"
        elif screen == "card_wallet":
            self.reset()
            self.flow.screen = "bill" if self.flow.bill is not None else "idle"
        else:                               # card, card_result
            self.flow.go_idle()

    def back_from_bank(self) -> str:
        """Back on the bank card's swipe / PIN screen: to the amount again."""
        self._drop_swipe()
        self._clear_pins()
        self.amount_typed = ""
        return "card_amount"

    # --- forgetting ------------------------------------------------------------------------------
    def _leave_step(self) -> None:
        self._stop_pin()
        self._clear_pins()
        if self.flow.screen in ("swipe", "pin"):
            self.flow.stop_bank_card()
        self._drop_swipe()

    def _clear_pins(self) -> None:
        self._card_pin = self._old_pin = self._new_pin = None
        self.pin_digits = 0

    def _drop_swipe(self) -> None:
        self._swipe = None
        self.flow.drop_swipe()

    @property
    def blocks_idle(self) -> bool:
        """A money step the card holder cannot walk away from yet."""
        return self.flow.screen in ("card_processing", "card_tear")

    def reset(self) -> None:
        """Forget the card, the amount and every PIN (go_idle, a new start)."""
        self._gen += 1
        self._stop_pin()
        self._stop_tear_clock()
        self._clear_pins()
        self._swipe = None
        self._amount = Money(0)
        self.view = None
        self.reading = self.tear_busy = False
        self.op = ""
        self.wallet = "EP"
        self.amount_typed = self.amount_text = ""
        self._set_amount_note("")
        self.pin_note = self.tear_note = ""
        self.result_action = self.masked_pan = self.reference = self.receipt_state = ""
        self.result_balance = self.result_wallet = ""

