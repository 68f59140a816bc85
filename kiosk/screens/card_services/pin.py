"""The card's own PIN on the PIN pad (screen card_pin): the digits typed, the
stage (the card PIN; or old, new and again to change it), and the PINs,
held here only until the card has them."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kivy.event import EventDispatcher
from kivy.properties import NumericProperty, StringProperty

from kiosk.devices.ports import PinKey
from kiosk.domain.errors import PinEntryCancelled
from kiosk.screens.bank_card import PIN_SLOTS
from kiosk.screens.navigation import Navigator, Screen, Spawn

if TYPE_CHECKING:
    from kiosk.services.wallet import WalletService


class CardPinEntry(EventDispatcher):
    """Part of CardServices (flow.py): what a typed PIN leads to is its (`_pin_typed`)."""
    pin_stage = StringProperty("card")       # card | old | new | again
    pin_digits = NumericProperty(0)
    pin_note = StringProperty("")
    pin_tries = NumericProperty(0)

    nav: Navigator
    service: WalletService
    _spawn: Spawn
    _gen: int
    # CardServices' own (flow.py)
    _pin_typed: Callable[[str, str], None]
    _fail: Callable[[BaseException, str], None]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pin_task: asyncio.Task[None] | None = None
        self._card_pin: str | None = None    # card PINs live here only until the card has them
        self._new_pin: str | None = None
        self._old_pin: str | None = None

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
        self._pin_typed(stage, pin)

    def _stop_pin(self) -> None:
        if self._pin_task is not None:
            self._pin_task.cancel()
            self._pin_task = None
            self._spawn(self.service.cancel_pin_entry())

    def _clear_pins(self) -> None:
        self._card_pin = self._old_pin = self._new_pin = None
        self.pin_digits = 0
