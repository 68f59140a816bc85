"""The bank card step (screens swipe and pin): swipe, then the PIN on the PIN
pad, and hand `(swipe, pin_block)` to whoever asked (a `BankCardRequest`):
the bill payment, or the IC card's load and unload. The step knows nothing
of what the card pays for; the request says what the screens show, where
Back leads, and whether a PIN is wanted (an unload pays *to* the card: none).

The swiped card is kept in memory only, and only until the caller is done
with it (`drop`): a wrong PIN or a retry asks `again` for a fresh PIN block
with the same card.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from kiosk.devices.ports import PinKey
from common.errors import BadSwipe
from kiosk.domain.errors import HostUnavailable, PinEntryCancelled, SwipeTimeout
from kiosk.screens.messages import log_failure, payment_message
from kiosk.screens.navigation import Navigator, Screen, Spawn

if TYPE_CHECKING:
    from common.bank_card import CardSwipe
    from kiosk.services.payment import PaymentService

log = logging.getLogger(__name__)

SWIPE_TIMEOUT_S = 45.0
PIN_SLOTS = 6          # the asterisks a PIN screen shows (the card PIN's screen too)


@dataclass(frozen=True, slots=True)
class BankCardFor:
    """What the swipe and PIN screens say the card pays for."""
    purpose: str = "bill"        # bill | load | unload: the catalogue keys pay.amount / card.pay.<purpose>
    amount_text: str = ""
    house_no: str = ""           # the bill's house
    card_tail: str = ""          # the IC card's last digits (load / unload)
    card_wallet: str = "EP"      # the IC wallet loaded
    paper_note: str = ""         # "" | "pay.paper_low" | "pay.no_receipt"


@dataclass(frozen=True, slots=True)
class BankCardRequest:
    showing: BankCardFor
    done: Callable[[CardSwipe, bytes | None], None]   # the card and its PIN block (None: no PIN wanted)
    back: Callable[[], None]             # Back, or nobody swiped: the caller's previous screen
    unavailable: Callable[[], None]      # the bank cannot be reached for the PIN's keys
    fail_back_to: Screen                 # where Back leads from a failure's message
    with_pin: bool = True
    first_note: str = ""                 # the first PIN screen's note (a PIN change: "the current PIN")
    # where the PIN block comes from, if not PaymentService.collect_pin (the
    # bank-card services: their service makes the bank link's keys ready first)
    pin_source: Callable[[CardSwipe, Callable[[PinKey, int], None]], Awaitable[bytes]] | None = None


class BankCardStep(EventDispatcher):
    swipe_again = BooleanProperty(False)      # the last swipe was unreadable
    card_text = StringProperty("")            # masked PAN of the swiped card
    pin_digits = NumericProperty(0)           # asterisks: digits typed on the pad
    pin_note = StringProperty("")             # "" | "pin.wrong" | "pin.wrong_plain" | "pin.again"
    pin_tries = NumericProperty(0)
    # what the card pays for (BankCardFor)
    purpose = StringProperty("bill")
    amount_text = StringProperty("")
    house_no = StringProperty("")
    card_tail = StringProperty("")
    card_wallet = StringProperty("EP")
    paper_note = StringProperty("")

    screens = frozenset({Screen.SWIPE, Screen.PIN})
    actions: frozenset[str] = frozenset()

    def __init__(self, nav: Navigator, payments: PaymentService | None, spawn: Spawn, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nav = nav
        self._payments = payments
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None
        self._request: BankCardRequest | None = None
        self._swipe: CardSwipe | None = None   # in memory only, forgotten as soon as possible

    # --- for the caller -----------------------------------------------------------
    def start(self, request: BankCardRequest) -> None:
        self._request = request
        showing = request.showing
        self.purpose, self.amount_text, self.house_no = showing.purpose, showing.amount_text, showing.house_no
        self.card_tail, self.card_wallet, self.paper_note = showing.card_tail, showing.card_wallet, showing.paper_note
        self.start_swipe()

    @property
    def has_card(self) -> bool:
        return self._swipe is not None

    def start_swipe(self) -> None:
        """Arm the reader and wait for a card (again after a bad swipe, or another card)."""
        self._cancel()
        self._swipe = None
        self.card_text = ""
        self.swipe_again = False
        self.nav.screen = Screen.SWIPE
        self._task = self._spawn(self._read_card())

    def again(self, note: str = "", tries: int = 0) -> None:
        """The same card, a fresh PIN block (a wrong PIN, a retry)."""
        assert self._swipe is not None
        self._cancel()
        self.pin_digits = 0
        self.pin_note, self.pin_tries = note, tries
        self.nav.screen = Screen.PIN
        self._task = self._spawn(self._collect_pin(self._swipe))

    def drop(self) -> None:
        """The caller is done with the card."""
        self._swipe = None

    def stop(self) -> None:
        """Stop the swipe or PIN entry and disarm the devices."""
        self._cancel()
        self._swipe = None
        if self._payments is not None:
            self._spawn(self._payments.cancel_devices())

    # --- as a Part ------------------------------------------------------------------
    def back(self) -> None:
        assert self._request is not None
        self.stop()
        self._request.back()

    def cancel(self) -> None:
        """Cancel on the swipe or PIN screen: back to the start, nothing charged."""
        self.nav.go_idle()

    def message_action(self, action: str) -> None:
        self.nav.go_idle()

    def reset(self) -> None:
        self._cancel()
        if self._swipe is not None or self.nav.screen in self.screens:
            self.stop()
        self._swipe = None
        self._request = None
        self.card_text = self.amount_text = self.house_no = self.paper_note = ""
        self.pin_digits = 0
        self.pin_note = ""
        self.swipe_again = False
        self.purpose = "bill"
        self.card_tail = ""

    # --- the steps -------------------------------------------------------------------
    async def _read_card(self) -> None:
        assert self._payments is not None and self._request is not None
        request = self._request
        if not await self.nav.hold(Screen.SWIPE):
            self._task = None
            return
        while True:
            try:
                swipe = await self._payments.read_card(SWIPE_TIMEOUT_S)
            except BadSwipe:
                self.swipe_again = True      # "please swipe again"; the loop re-arms the reader
                self.nav.dispatch("on_activity")
                continue
            except SwipeTimeout:
                self._task = None
                request.back()               # nobody swiped
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
        self.nav.dispatch("on_activity")
        if request.with_pin:
            self.again(request.first_note)
        else:
            request.done(swipe, None)

    def _on_pin_key(self, key: PinKey, digits: int) -> None:
        self.pin_digits = min(digits, PIN_SLOTS)
        self.nav.dispatch("on_activity")

    async def _collect_pin(self, swipe: CardSwipe) -> None:
        assert self._payments is not None and self._request is not None
        request = self._request
        if not await self.nav.hold(Screen.PIN):
            self._task = None
            return
        try:
            if request.pin_source is not None:     # a service with its own PIN entry (bank-card services)
                pin_block = await request.pin_source(swipe, self._on_pin_key)
            else:
                # a bill's PIN is checked by the bank (the link's PIK); a wallet
                # load's or unload's by the card centre (the host's PIN key)
                for_bill = request.showing.purpose == "bill"
                pin_block = await self._payments.collect_pin(swipe, self._on_pin_key,
                                                             checked_by="bank" if for_bill else "card_centre")
        except asyncio.CancelledError:
            raise
        except PinEntryCancelled:
            self._task = None
            self.nav.go_idle()               # Cancel on the pad: nothing charged
            return
        except HostUnavailable:
            self._task = None
            request.unavailable()
            return
        except Exception as exc:  # noqa: BLE001
            self._task = None
            self._fail(exc, "PIN entry")
            return
        self._task = None
        request.done(swipe, pin_block)

    def _fail(self, exc: BaseException, step: str) -> None:
        assert self._request is not None
        log_failure(log, "payment", step, exc)
        self._swipe = None
        self.nav.show(payment_message(exc, self._request.fail_back_to))

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
