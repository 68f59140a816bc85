"""What the resident is doing: which screen, what is typed, the bill shown,
where a card payment has got to. The flow only routes; bills come from
BillService, payments from PaymentService, and every rule about them lives
there (DESIGN §2 rule 1). Kivy properties let the .kv files bind to it.

Card payment (docs/ui.md "Screen flow"):

    bill ─Pay─▶ (paper check) ─▶ swipe ─▶ pin ─▶ processing ─▶ result
                 ├─ out: message "no paper: continue without receipt?"
                 └─ suspended: message "card payment unavailable"

Staff commands (docs/console.md) run only at a safe point: every task that
asks for a card or moves money first holds the fleet's transaction
(`hold`), which is let go when the flow is back at rest (AT_REST) and no
receipt is still printing. Out of service, the flow rests on the
out_of_service screen and starts nothing.

Card services (卡务, kiosk/screens/card_flow.py; `Flow.cards`): the screens
card_insert, card, card_amount, card_pin, card_wallet, card_processing,
card_result, card_tear. A load or unload borrows the bank card steps above
(swipe, pin) with `purpose` = load | unload; paying the bill from the IC
wallet starts at the bill's "IC卡钱包" button.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from kivy.event import EventDispatcher
from typing import TYPE_CHECKING

from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty

from kiosk.devices.ports import PaperStatus, PinKey
from kiosk.domain.errors import (BadHostReply, HostUnavailable, HouseNotFound, KioskError, OutcomeUnknown,
                                 PaymentsSuspended, PinEntryCancelled, SwipeTimeout)
from common.errors import BadHouseNumber, BadSwipe
from common.house import HouseNumber, is_plausible_prefix
from kiosk.services.bills import BillService
from kiosk.domain.errors import OutOfService

if TYPE_CHECKING:
    from common.bank_card import CardSwipe
    from kiosk.services.fleet.service import FleetService, TransactionHandle
    from kiosk.services.payment import PaymentOutcome, PaymentService
    from kiosk.services.wallet import WalletService

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]
KEYS = tuple("0123456789-")
MAX_TYPED = 12
SWIPE_TIMEOUT_S = 45.0
PIN_SLOTS = 6
# nothing may leave these screens: the bank or the card is answering, or a torn card is awaited
NO_LEAVING = ("processing", "card_processing", "card_tear")
# nothing is under way on these screens: a staff command may run (the fleet's safe point)
AT_REST = ("idle", "entry", "bill", "message", "result", "card_result", "out_of_service")
# out of service takes over these at once; the others finish first (a result is read to its end)
OUT_OF_SERVICE_AT_ONCE = ("idle", "entry", "bill")

# What a resident can do after each decline (docs/payments.md codes). The
# bank's reason is shown as decline.<code>; wrong_pin goes straight back to
# the PIN screen with the same card.
DECLINE_ACTION = {
    "wrong_pin": "another_card", "pin_locked": "another_card", "insufficient_funds": "another_card", "card_blocked": "another_card",
    "expired_card": "another_card", "daily_limit": "another_card", "unknown_card": "another_card",
    "bill_changed": "lookup_again", "nothing_due": "", "reversed": "retry",
}


@dataclass(frozen=True, slots=True)
class Message:
    title_key: str
    body_key: str
    action: str = ""        # "" | "reenter" | "retry" | "home" | "no_receipt"
    back_to: str = "idle"   # where Back leads
    tone: str = "error"     # "error" | "info"


def payment_message(error: BaseException, back_to: str = "bill") -> Message:
    """A payment step that cannot go on: say so, and who must act."""
    key = error.message_key if isinstance(error, KioskError) else "error.generic"
    if isinstance(error, PaymentsSuspended):
        return Message("msg.payments_off.title", key, action="home", back_to=back_to, tone="info")
    return Message("msg.sorry", key, action="home", back_to=back_to)


def message_for(error: BaseException) -> Message:
    """Which message and which way out, by who must act."""
    key = error.message_key if isinstance(error, KioskError) else "error.generic"
    if isinstance(error, (HouseNotFound, BadHouseNumber)):
        return Message("msg.sorry", key, action="reenter", back_to="entry")
    if isinstance(error, (HostUnavailable, BadHostReply)):
        return Message("msg.sorry", key, action="retry", back_to="entry")
    return Message("msg.sorry", key, action="home", back_to="entry")


class Flow(EventDispatcher):
    # idle | entry | bill | message | swipe | pin | processing | result
    # | card_insert | card | card_amount | card_pin | card_wallet | card_processing | card_result | card_tear
    screen = StringProperty("idle")
    house_text = StringProperty("")
    hint_key = StringProperty("entry.hint.continue")
    hint_arg = StringProperty("")
    hint_is_error = BooleanProperty(False)
    busy = BooleanProperty(False)
    bill = ObjectProperty(None, allownone=True)   # kiosk.domain.bill.HouseholdBill
    # the message screen's content (flat, so kv binds to each field)
    msg_title = StringProperty("msg.sorry")
    msg_body = StringProperty("error.generic")
    msg_action = StringProperty("home")
    msg_tone = StringProperty("error")
    # --- card payment ---------------------------------------------------------
    amount_text = StringProperty("")          # what is being paid, "¥1,269.31"
    house_no = StringProperty("")
    paper_note = StringProperty("")           # "" | "pay.paper_low" | "pay.no_receipt"
    swipe_again = BooleanProperty(False)      # the last swipe was unreadable
    card_text = StringProperty("")            # masked PAN of the swiped card
    pin_digits = NumericProperty(0)           # asterisks: digits typed on the pad
    pin_note = StringProperty("")             # "" | "pin.wrong" | "pin.wrong_plain" | "pin.again"
    pin_tries = NumericProperty(0)
    result_kind = StringProperty("approved")  # approved | declined | unknown | unavailable
    result_title = StringProperty("result.approved.title")
    result_body = StringProperty("")
    result_action = StringProperty("")        # "" | another_card | lookup_again | retry
    result_reference = StringProperty("")
    receipt_state = StringProperty("")        # "" | printing | printed | not_printed | skipped
    # what the bank card is for: the bill, or a load / unload of the IC card
    purpose = StringProperty("bill")          # bill | load | unload
    card_tail = StringProperty("")            # the IC card's last digits (load / unload)
    card_wallet = StringProperty("EP")        # the IC wallet loaded (EP | ED)
    cards = ObjectProperty(None, allownone=True)   # CardFlow, when the IC wallet is configured
    out_of_service = BooleanProperty(False)   # staff took the kiosk out of service
    __events__ = ("on_activity",)             # the resident did something off-screen (PIN pad, card)

    def __init__(self, bills: BillService, spawn: Spawn, payments: PaymentService | None = None,
                 wallet: WalletService | None = None, fleet: FleetService | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bills = bills
        self._spawn = spawn
        self._payments = payments
        self._fleet = fleet
        self._held: TransactionHandle | None = None   # the fleet's transaction, while one is under way
        self._printing = 0                             # receipts printing after their result showed
        if fleet is not None:
            fleet.screen = self.screen
            self.out_of_service = fleet.out_of_service
            fleet.on_out_of_service_change(self.set_out_of_service)
        if wallet is not None:
            from kiosk.screens.card_flow import CardFlow   # only with the IC wallet: it loads the card code
            self.cards = CardFlow(self, wallet, payments, spawn)
        self._task: asyncio.Task[None] | None = None
        self._looked_up = ""
        self._swipe: CardSwipe | None = None   # in memory only, forgotten as soon as possible
        self._with_receipt = True
        self.message = Message("msg.sorry", "error.generic", action="home")

    def on_activity(self) -> None:
        pass

    # --- the fleet: safe point, current screen, out of service --------------------
    def on_screen(self, _flow: Flow, screen: str) -> None:
        if self._fleet is not None:
            self._fleet.screen = screen
        self._release_at_rest()

    async def hold(self, screen: str) -> bool:
        """Before a task asks for a card or moves money: commands wait until the
        flow is back at rest. False (and nothing done) if the resident left
        `screen` meanwhile or staff took the kiosk out of service."""
        if self._fleet is None or self._held is not None:
            return self.screen == screen
        try:
            handle = await self._fleet.begin_transaction()
        except OutOfService:
            self.out_of_service = True
            self._go_rest()            # nothing started yet: even from a processing screen
            return False
        if self._held is not None:     # another task took one while this waited
            handle.end()
        else:
            self._held = handle
        if self.screen != screen:
            self._release_at_rest()
            return False
        return True

    def _release_at_rest(self) -> None:
        if self._held is not None and self.screen in AT_REST and not self._printing:
            self._held.end()
            self._held = None

    def print_in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """A receipt printing after its result showed: commands (a restart, a test
        print) wait for it too. Call before showing the result."""
        self._printing += 1

        async def run() -> None:
            try:
                await work
            finally:
                self._printing -= 1
                self._release_at_rest()
        self._spawn(run())

    def set_out_of_service(self, value: bool) -> None:
        """Staff's out_of_service / in_service (on the event loop). A resident
        reading a result or a message finishes first; go_idle then rests here."""
        self.out_of_service = value
        if value and self.screen in OUT_OF_SERVICE_AT_ONCE:
            self.go_idle()
        elif not value and self.screen == "out_of_service":
            self.screen = "idle"

    # --- navigation ---------------------------------------------------------
    @property
    def payments_enabled(self) -> bool:
        return self._payments is not None

    @property
    def wallet_enabled(self) -> bool:
        return self.cards is not None

    def go_idle(self) -> None:
        """Back to the attract screen; forget everything the resident typed or saw.
        Never while the bank or a card is being asked: that answer must be heard."""
        if self.screen in NO_LEAVING:
            log.warning("go_idle refused on %s", self.screen)
            return
        self._go_rest()

    def _go_rest(self) -> None:
        self._cancel()
        self._forget_payment()
        if self.cards is not None:
            self.cards.reset()
        self.house_text = ""
        self.bill = None
        self._looked_up = ""
        self._set_hint("entry.hint.continue")
        self.screen = "out_of_service" if self.out_of_service else "idle"

    def start_pay(self) -> None:
        if self.out_of_service:
            return
        self.house_text = ""
        self.bill = None
        self._set_hint("entry.hint.continue")
        self.screen = "entry"

    def start_card_services(self) -> None:
        if self.out_of_service:
            return
        if self.cards is None:
            self.show(Message("msg.card_soon.title", "msg.card_soon", action="home", back_to="idle", tone="info"))
            return
        self.cards.start("view")

    def pay_by_wallet(self) -> None:
        """IC卡钱包 on the bill screen: present the card, then choose the wallet."""
        if self.cards is None or self.busy or self.bill is None or self.bill.nothing_due:
            return
        assert self._payments is not None
        try:
            self._payments.check_can_pay()
        except PaymentsSuspended as exc:
            self.show(payment_message(exc))
            return
        self.cards.start("pay")

    def pay(self) -> None:
        """Pay on the bill screen: check payments can start and the paper, then swipe."""
        if self._payments is None:
            self.show(Message("msg.pay_soon.title", "msg.pay_soon", action="home", back_to="bill", tone="info"))
            return
        if self.busy or self.bill is None or self.bill.nothing_due:
            return
        self.purpose = "bill"
        try:
            self._payments.check_can_pay()
        except PaymentsSuspended as exc:
            self.show(payment_message(exc))
            return
        self.busy = True
        self._task = self._spawn(self._check_paper())

    def show(self, message: Message) -> None:
        self.message = message
        self.msg_title, self.msg_body = message.title_key, message.body_key
        self.msg_action, self.msg_tone = message.action, message.tone
        self.screen = "message"

    def back(self) -> None:
        if self.screen == "entry":
            self.go_idle()
        elif self.screen == "bill":
            self.screen = "entry"
        elif self.screen in ("swipe", "pin"):
            self._stop_payment()
            self.screen = "bill" if self.purpose == "bill" or self.cards is None else self.cards.back_from_bank()
        elif self.screen.startswith("card"):
            if self.cards is not None:
                self.cards.back()
        elif self.screen == "result":
            if self.result_kind in ("approved", "unknown") or self.bill is None:
                self.go_idle()
            else:
                self._stop_payment()
                self.screen = "bill"
        elif self.screen == "message":
            target = self.message.back_to
            self.go_idle() if target == "idle" else setattr(self, "screen", target)

    def message_action(self) -> None:
        action = self.message.action
        if action == "retry":
            self.retry()
        elif action == "reenter":
            self.screen = "entry"
        elif action == "no_receipt":
            self.continue_without_receipt()
        elif action.startswith("card_") and self.cards is not None:
            self.cards.message_action(action)
        else:
            self.go_idle()

    # --- card payment -------------------------------------------------------------
    async def _check_paper(self) -> None:
        assert self._payments is not None
        try:
            if not await self.hold("bill"):
                return
            paper = await self._payments.paper_status()
        finally:
            self._task = None
            self.busy = False
            self._release_at_rest()   # held again by the swipe
        if self.screen != "bill":
            return      # the resident left meanwhile
        if paper is PaperStatus.OUT:
            self.show(Message("msg.no_paper.title", "msg.no_paper", action="no_receipt", back_to="bill",
                              tone="info"))
            return
        self._begin(with_receipt=True, paper_low=paper is PaperStatus.NEAR_END)

    def continue_without_receipt(self) -> None:
        if self._payments is not None and self.bill is not None:
            self._begin(with_receipt=False)

    def _begin(self, *, with_receipt: bool, paper_low: bool = False) -> None:
        assert self.bill is not None
        self.purpose = "bill"
        self._with_receipt = with_receipt
        self.paper_note = "pay.no_receipt" if not with_receipt else ("pay.paper_low" if paper_low else "")
        self.amount_text = self.bill.total_due.display()
        self.house_no = str(self.bill.house)
        self.start_swipe()

    def start_bank_card(self, purpose: str, amount_text: str) -> None:
        """The IC card's load / unload: the bank card through the same swipe and PIN steps."""
        assert self.cards is not None and self.cards.view is not None
        self.purpose = purpose
        self.amount_text = amount_text
        self.card_tail = self.cards.view.serial[-4:]
        self.card_wallet = self.cards.wallet
        self.paper_note = ""
        self.start_swipe()

    def stop_bank_card(self) -> None:
        self._stop_payment()

    def drop_swipe(self) -> None:
        """The bank card is done with (the IC card's step is over)."""
        self._swipe = None

    def start_swipe(self) -> None:
        """Arm the reader and wait for a card (again after a bad swipe)."""
        self._cancel()
        self._swipe = None
        self.card_text = ""
        self.swipe_again = False
        self.screen = "swipe"
        self._task = self._spawn(self._read_card())

    async def _read_card(self) -> None:
        assert self._payments is not None
        if not await self.hold("swipe"):
            self._task = None
            return
        while True:
            try:
                swipe = await self._payments.read_card(SWIPE_TIMEOUT_S)
            except BadSwipe:
                self.swipe_again = True      # "please swipe again"; the loop re-arms the reader
                self.dispatch("on_activity")
                continue
            except SwipeTimeout:
                self._task = None
                if self.purpose == "bill" or self.cards is None:
                    self.screen = "bill"     # nobody swiped: back to the bill
                else:
                    self.screen = self.cards.back_from_bank()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure becomes a message
                self._task = None
                self._fail(exc, "card read")
                return
            break
        self._task = None
        self._swipe = swipe
        self.card_text = swipe.masked_pan
        self.dispatch("on_activity")
        if self.purpose == "unload" and self.cards is not None:
            self.cards.bank_card_read(swipe)    # money goes to this card: no bank PIN
            return
        self.start_pin()

    def start_pin(self, note: str = "", tries: int = 0) -> None:
        """Collect the PIN for the swiped card on the PIN pad."""
        assert self._swipe is not None
        self._cancel()
        self.pin_digits = 0
        self.pin_note, self.pin_tries = note, tries
        self.screen = "pin"
        self._task = self._spawn(self._collect_pin(self._swipe))

    def _on_pin_key(self, key: PinKey, digits: int) -> None:
        self.pin_digits = min(digits, PIN_SLOTS)
        self.dispatch("on_activity")

    async def _collect_pin(self, swipe: CardSwipe) -> None:
        assert self._payments is not None
        if not await self.hold("pin"):
            self._task = None
            return
        try:
            pin_block = await self._payments.collect_pin(swipe, self._on_pin_key)
        except asyncio.CancelledError:
            raise
        except PinEntryCancelled:
            self._task = None
            self.go_idle()                   # Cancel on the pad: nothing charged
            return
        except HostUnavailable:
            self._task = None
            self._show_result("unavailable", "result.unavailable.title", "pay.host_unavailable", action="retry")
            return
        except Exception as exc:  # noqa: BLE001
            self._task = None
            self._fail(exc, "PIN entry")
            return
        self._task = None
        if self.purpose == "load" and self.cards is not None:
            self.cards.bank_pin_entered(swipe, pin_block)
            return
        self._process(swipe, pin_block)

    def _process(self, swipe: CardSwipe, pin_block: bytes) -> None:
        assert self.bill is not None
        self.screen = "processing"
        self._spawn(self._pay(self.bill, swipe, pin_block))   # never cancelled (go_idle refuses)

    async def _pay(self, bill: Any, swipe: CardSwipe, pin_block: bytes) -> None:
        assert self._payments is not None
        try:
            outcome = await self._payments.pay(bill, swipe, pin_block)
        except HostUnavailable:
            self._show_result("unavailable", "result.unavailable.title", "pay.host_unavailable", action="retry")
            return
        except OutcomeUnknown:
            self._swipe = None
            self._show_result("unknown", "result.unknown.title", "error.outcome_unknown")
            return
        except Exception as exc:  # noqa: BLE001
            self.screen = "bill"             # leave "processing" so the message can show
            self._fail(exc, "payment")
            return
        if outcome.approved:
            self._approved(outcome)
        else:
            self._declined(outcome)

    def _approved(self, outcome: PaymentOutcome) -> None:
        self._swipe = None
        self.result_reference = outcome.reference
        self.card_text = outcome.masked_pan
        self.amount_text = outcome.amount.display()
        self.receipt_state = "printing" if self._with_receipt else "skipped"
        if self._with_receipt:
            self.print_in_background(self._print(outcome.txn_id))   # not self._task: Done must not stop it
        self._show_result("approved", "result.approved.title", "result.approved")

    async def _print(self, txn_id: str) -> None:
        assert self._payments is not None
        printed = await self._payments.print_receipt(txn_id)
        if self.screen == "result" and self.result_kind == "approved":
            self.receipt_state = "printed" if printed else "not_printed"

    def _declined(self, outcome: PaymentOutcome) -> None:
        code = outcome.decline_code
        if code == "wrong_pin" and outcome.tries_left != 0 and self._swipe is not None:
            if outcome.tries_left is None:
                self.start_pin("pin.wrong_plain")
            else:
                self.start_pin("pin.wrong", outcome.tries_left)
            return
        self._swipe = None
        key = f"decline.{code}" if code in DECLINE_ACTION else "decline.other"
        self._show_result("declined", "result.declined.title", key, action=DECLINE_ACTION.get(code, "another_card"))

    def _show_result(self, kind: str, title: str, body: str, *, action: str = "") -> None:
        if kind != "approved":
            self.receipt_state = ""
            self.result_reference = ""
        self.result_kind, self.result_title, self.result_body = kind, title, body
        self.result_action = action
        self.screen = "result"

    def result_next(self) -> None:
        """The result screen's main button."""
        action = self.result_action
        if action == "another_card":
            self.start_swipe()
        elif action == "retry":
            if self._swipe is not None:
                self.start_pin("pin.again")     # not sent: the same card, a fresh PIN block
            else:
                self.start_swipe()
        elif action == "lookup_again":
            self.lookup_again()
        else:
            self.go_idle()

    def cancel_payment(self) -> None:
        """Cancel on the swipe or PIN screen: back to the start, nothing charged."""
        self.go_idle()

    def _fail(self, exc: BaseException, step: str) -> None:
        if isinstance(exc, KioskError):
            log.info("payment %s: %s (%s)", step, type(exc).__name__, exc)
        else:
            log.error("payment %s failed unexpectedly", step, exc_info=exc)
        self._swipe = None
        self.show(payment_message(exc, "bill" if self.purpose == "bill" else "idle"))

    def _stop_payment(self) -> None:
        """Stop a device step (swipe, PIN) and disarm the devices."""
        self._cancel()
        self._swipe = None
        if self._payments is not None:
            self._spawn(self._payments.cancel_devices())

    def _forget_payment(self) -> None:
        if self._swipe is not None or self.screen in ("swipe", "pin"):
            self._stop_payment()
        self._swipe = None
        self.card_text = self.amount_text = self.house_no = self.paper_note = ""
        self.pin_digits = 0
        self.pin_note = ""
        self.swipe_again = False
        self.result_reference = self.receipt_state = ""
        self._with_receipt = True
        self.purpose = "bill"
        self.card_tail = ""

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
        """The bill changed under a payment: look it up afresh."""
        self._forget_payment()
        if self.cards is not None:
            self.cards.reset()
        self.retry()

    def retry(self) -> None:
        if self._looked_up and not self.busy:
            self.house_text = self._looked_up
            self.screen = "entry"
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
            if not isinstance(exc, KioskError):
                log.exception("bill lookup failed unexpectedly")
            else:
                log.info("bill lookup %s: %s (%s)", text, type(exc).__name__, exc)
            self.busy = False
            self.show(message_for(exc))
            return
        finally:
            self._task = None
        self.busy = False
        self.bill = bill
        self.screen = "bill"

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.busy = False
