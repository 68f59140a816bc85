"""Waiting for and reading the IC card (screen card_insert): the wallet
service's watcher reports cards arriving and leaving on a device thread;
the events hop to Kivy's clock. A card already in a reader is read at once."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty

from kiosk.domain.errors import CardFault, CardRemoved, KioskError
from kiosk.screens.navigation import Navigator, Screen, Spawn

if TYPE_CHECKING:
    from kiosk.domain.bill import HouseholdBill
    from kiosk.screens.card_services.onecard import OneCardSteps
    from kiosk.services.wallet_view import CardView
    from kiosk.services.wallet import WalletService


class CardReading(EventDispatcher):
    """Part of CardServices (flow.py): what a card arriving or leaving means is its (`on_card_event`)."""
    reading = BooleanProperty(False)         # a card is being read (card_insert)

    nav: Navigator
    service: WalletService
    _spawn: Spawn
    _gen: int
    op: str                                  # AmountEntry's properties
    view: CardView | None
    bill: HouseholdBill | None
    onecard: OneCardSteps | None
    _watching = False
    # CardServices' own (flow.py)
    on_card_event: Callable[[str, bool], None]
    _fail: Callable[[BaseException, str], None]

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

    def _present(self, reader: str) -> None:
        self.reading = True
        self._spawn(self._read(reader, self._gen))

    async def _read(self, reader: str, gen: int) -> None:
        if not await self.nav.hold(Screen.CARD_INSERT):
            self.reading = False
            return
        onecard = self.onecard
        if onecard is not None and await onecard.claims(reader):   # an estate one-card (onecard.py)
            if gen == self._gen:
                await onecard.read(gen, self.bill if self.op == "pay" else None)
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
