"""What the resident is doing: which screen, what is typed, the bill shown.
The flow only routes; bills come from BillService and every rule about them
lives there (DESIGN §2 rule 1). Kivy properties let the .kv files bind to it."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty

from kiosk.domain.errors import (BadHostReply, BadHouseNumber, HostUnavailable, HouseNotFound,
                                 KioskError)
from kiosk.domain.house import HouseNumber, is_plausible_prefix
from kiosk.services.bills import BillService

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]
KEYS = tuple("0123456789-")
MAX_TYPED = 12


@dataclass(frozen=True, slots=True)
class Message:
    title_key: str
    body_key: str
    action: str = ""        # "" | "reenter" | "retry" | "home"
    back_to: str = "idle"   # where Back leads
    tone: str = "error"     # "error" | "info"


def message_for(error: BaseException) -> Message:
    """Which message and which way out, by who must act."""
    key = error.message_key if isinstance(error, KioskError) else "error.generic"
    if isinstance(error, (HouseNotFound, BadHouseNumber)):
        return Message("msg.sorry", key, action="reenter", back_to="entry")
    if isinstance(error, (HostUnavailable, BadHostReply)):
        return Message("msg.sorry", key, action="retry", back_to="entry")
    return Message("msg.sorry", key, action="home", back_to="entry")


class Flow(EventDispatcher):
    screen = StringProperty("idle")             # idle | entry | bill | message
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

    def __init__(self, bills: BillService, spawn: Spawn, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bills = bills
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None
        self._looked_up = ""
        self.message = Message("msg.sorry", "error.generic", action="home")

    # --- navigation ---------------------------------------------------------
    def go_idle(self) -> None:
        """Back to the attract screen; forget everything the resident typed or saw."""
        self._cancel()
        self.house_text = ""
        self.bill = None
        self._looked_up = ""
        self._set_hint("entry.hint.continue")
        self.screen = "idle"

    def start_pay(self) -> None:
        self.house_text = ""
        self.bill = None
        self._set_hint("entry.hint.continue")
        self.screen = "entry"

    def start_card_services(self) -> None:
        self.show(Message("msg.card_soon.title", "msg.card_soon", action="home", back_to="idle", tone="info"))

    def pay(self) -> None:
        self.show(Message("msg.pay_soon.title", "msg.pay_soon", action="home", back_to="bill", tone="info"))

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
        elif self.screen == "message":
            target = self.message.back_to
            self.go_idle() if target == "idle" else setattr(self, "screen", target)

    def message_action(self) -> None:
        action = self.message.action
        if action == "retry":
            self.retry()
        elif action == "reenter":
            self.screen = "entry"
        else:
            self.go_idle()

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
