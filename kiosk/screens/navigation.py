"""Where the resident is: the screen, the message shown, going home, Back, out
of service, the countdown, and the fleet's safe point. Every flow (bill
payment, card services, the bank-card step) is a `Part` registered here: the
navigator asks the part that owns the current screen what Back means, and
the part that owns a message's action what to do, so it never names a flow.

Staff commands (docs/console.md) run only at a safe point: every task that
asks for a card or moves money first holds the fleet's transaction (`hold`),
which is let go when the resident is back at rest (AT_REST) and no receipt is
still printing. Out of service, the kiosk rests on the out_of_service screen
and starts nothing.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, StringProperty

from kiosk.domain.errors import OutOfService

if TYPE_CHECKING:
    from kiosk.services.fleet.service import FleetService, TransactionHandle

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class Screen(StrEnum):
    """The screens by name: the values are the names the .kv files, the
    ScreenManager, the fleet's status and the tour use."""
    IDLE = "idle"
    ENTRY = "entry"
    BILL = "bill"
    MESSAGE = "message"
    SWIPE = "swipe"
    PIN = "pin"
    PROCESSING = "processing"
    RESULT = "result"
    OUT_OF_SERVICE = "out_of_service"
    CARD_INSERT = "card_insert"
    CARD = "card"
    CARD_AMOUNT = "card_amount"
    CARD_PIN = "card_pin"
    CARD_WALLET = "card_wallet"
    CARD_PROCESSING = "card_processing"
    CARD_RESULT = "card_result"
    CARD_TEAR = "card_tear"
    ONECARD = "onecard"                          # the estate one-card (卡务, card_services/onecard.py)
    ONECARD_AMOUNT = "onecard_amount"
    ONECARD_BILL = "onecard_bill"
    ONECARD_RESULT = "onecard_result"
    ONECARD_REFUSED = "onecard_refused"
    BANKCARD_CHOOSE = "bankcard_choose"          # 银行卡服务: balance or PIN change
    BANKCARD_PROCESSING = "bankcard_processing"
    BANKCARD_RESULT = "bankcard_result"
    METER_INSERT = "meter_insert"                # 购电 / 购水 / 购气: the meter card, an IC card, a torn card back
    METER = "meter"
    METER_AMOUNT = "meter_amount"
    METER_PAY = "meter_pay"
    METER_PROCESSING = "meter_processing"
    METER_RESULT = "meter_result"
    TRANSFER = "transfer"                        # 转账: money between two IC cards (card_services/transfer.py)
    TRANSFER_AMOUNT = "transfer_amount"
    TRANSFER_CONFIRM = "transfer_confirm"
    TRANSFER_PROCESSING = "transfer_processing"
    TRANSFER_RESULT = "transfer_result"
    TRANSFER_TEAR = "transfer_tear"


# nothing may leave these screens: the bank or the card is answering, or a torn card is awaited
NO_LEAVING = frozenset({Screen.PROCESSING, Screen.CARD_PROCESSING, Screen.CARD_TEAR, Screen.BANKCARD_PROCESSING,
                        Screen.METER_PROCESSING, Screen.TRANSFER_PROCESSING, Screen.TRANSFER_TEAR})
# nothing is under way on these screens: a staff command may run (the fleet's safe point)
AT_REST = frozenset({Screen.IDLE, Screen.ENTRY, Screen.BILL, Screen.MESSAGE, Screen.RESULT, Screen.CARD_RESULT,
                     Screen.OUT_OF_SERVICE, Screen.BANKCARD_CHOOSE, Screen.BANKCARD_RESULT,
                     Screen.ONECARD_RESULT, Screen.ONECARD_REFUSED, Screen.METER_RESULT, Screen.TRANSFER_RESULT})
# out of service takes over these at once; the others finish first (a result is read to its end)
OUT_OF_SERVICE_AT_ONCE = frozenset({Screen.IDLE, Screen.ENTRY, Screen.BILL})
# no idle countdown: the bank's or the card's answer is always awaited; a torn card has its own
NO_COUNTDOWN = frozenset({Screen.IDLE, Screen.PROCESSING, Screen.CARD_PROCESSING, Screen.CARD_TEAR,
                          Screen.OUT_OF_SERVICE, Screen.BANKCARD_PROCESSING, Screen.METER_PROCESSING,
                          Screen.TRANSFER_PROCESSING, Screen.TRANSFER_TEAR})


@dataclass(frozen=True, slots=True)
class Message:
    title_key: str
    body_key: str
    action: str = ""              # "" | "home" | an action a Part owns ("retry", "card_again", ...)
    back_to: str = Screen.IDLE    # where Back leads
    tone: str = "error"           # "error" | "info"


class Part(Protocol):
    """A flow as the navigator sees it."""
    screens: frozenset[Screen]    # the screens it owns: Back there is its to answer
    actions: frozenset[str]       # the message actions it answers

    def back(self) -> None: ...
    def message_action(self, action: str) -> None: ...
    def reset(self) -> None: ...  # forget everything (going home)


class Navigator(EventDispatcher):
    screen = StringProperty(Screen.IDLE)
    # the message screen's content (flat, so kv binds to each field)
    msg_title = StringProperty("msg.sorry")
    msg_body = StringProperty("error.generic")
    msg_action = StringProperty("home")
    msg_tone = StringProperty("error")
    out_of_service = BooleanProperty(False)   # staff took the kiosk out of service
    __events__ = ("on_activity",)             # the resident did something off-screen (PIN pad, card)

    def __init__(self, spawn: Spawn, fleet: FleetService | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._spawn = spawn
        self._fleet = fleet
        self._parts: list[Part] = []
        self._entries: dict[str, Callable[[], None]] = {}   # the idle screen's choices
        self._held: TransactionHandle | None = None   # the fleet's transaction, while one is under way
        self._printing = 0                             # receipts printing after their result showed
        self.message = Message("msg.sorry", "error.generic", action="home")
        if fleet is not None:
            fleet.screen = self.screen
            self.out_of_service = fleet.out_of_service
            fleet.on_out_of_service_change(self.set_out_of_service)

    def on_activity(self) -> None:
        pass

    def register(self, part: Part, *, name: str = "", start: Callable[[], None] | None = None) -> None:
        """A flow joins (going home resets the parts in the order they joined);
        `start` is how the idle screen's choice `name` begins it."""
        self._parts.append(part)
        if start is not None:
            self._entries[name] = start

    def offers(self, name: str) -> bool:
        return name in self._entries

    def start(self, name: str) -> None:
        """A choice on the idle screen. A service this kiosk is not configured
        for says it is coming (msg.<name>_soon)."""
        if self.out_of_service:
            return
        start = self._entries.get(name)
        if start is None:
            self.show(Message(f"msg.{name}_soon.title", f"msg.{name}_soon", action="home", back_to=Screen.IDLE,
                              tone="info"))
            return
        start()

    # --- the fleet: safe point, current screen, out of service --------------------
    def on_screen(self, _nav: Navigator, screen: str) -> None:
        if self._fleet is not None:
            self._fleet.screen = screen
        self.release_at_rest()

    async def hold(self, screen: Screen) -> bool:
        """Before a task asks for a card or moves money: commands wait until the
        resident is back at rest. False (and nothing done) if the resident left
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
            self.release_at_rest()
            return False
        return True

    def release_at_rest(self) -> None:
        """Let the fleet's transaction go if nothing is under way any more."""
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
                self.release_at_rest()
        self._spawn(run())

    def set_out_of_service(self, value: bool) -> None:
        """Staff's out_of_service / in_service (on the event loop). A resident
        reading a result or a message finishes first; go_idle then rests here."""
        self.out_of_service = value
        if value and self.screen in OUT_OF_SERVICE_AT_ONCE:
            self.go_idle()
        elif not value and self.screen == Screen.OUT_OF_SERVICE:
            self.screen = Screen.IDLE

    # --- going home, Back, messages ------------------------------------------------
    def go_idle(self) -> None:
        """Back to the attract screen; forget everything the resident typed or saw.
        Never while the bank or a card is being asked: that answer must be heard."""
        if self.screen in NO_LEAVING:
            log.warning("go_idle refused on %s", self.screen)
            return
        self._go_rest()

    def _go_rest(self) -> None:
        for part in self._parts:
            part.reset()
        self.screen = Screen.OUT_OF_SERVICE if self.out_of_service else Screen.IDLE

    def reset_others(self, keep: Part) -> None:
        """Every other flow forgets its state (a payment starting afresh)."""
        for part in self._parts:
            if part is not keep:
                part.reset()

    def show(self, message: Message) -> None:
        self.message = message
        self.msg_title, self.msg_body = message.title_key, message.body_key
        self.msg_action, self.msg_tone = message.action, message.tone
        self.screen = Screen.MESSAGE

    def back(self) -> None:
        if self.screen == Screen.MESSAGE:
            target = self.message.back_to
            self.go_idle() if target == Screen.IDLE else setattr(self, "screen", target)
            return
        for part in self._parts:
            if self.screen in part.screens:
                part.back()
                return

    def message_action(self) -> None:
        action = self.message.action
        for part in self._parts:
            if action in part.actions:
                part.message_action(action)
                return
        self.go_idle()
