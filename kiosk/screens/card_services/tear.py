"""A card pulled during a write (screen card_tear): count down while waiting
for the same card, let the card prove what happened, or leave it to the card
centre when the card holder gives up or the time runs out."""
from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from kiosk.domain.errors import CardFault, CardRemoved, NotTheSameCard, ReaderFault
from kiosk.screens import card_view
from kiosk.screens.navigation import Message, Navigator, Screen, Spawn

if TYPE_CHECKING:
    from kiosk.services.wallet_view import WalletOutcome
    from kiosk.services.wallet import WalletService

log = logging.getLogger(__name__)

TEAR_WAIT_S = 60          # how long the tear screen waits for the same card


class TearOwner(Protocol):
    """Another card's part waiting on this screen (the one-card, onecard.py):
    it asks the card back and shows what the card proved."""
    async def resume_torn(self, reader: str) -> Any: ...
    async def abandon_torn(self) -> None: ...
    def show_outcome(self, outcome: Any) -> None: ...


class TearWait(EventDispatcher):
    """Part of CardServices (flow.py): the outcome, the card reading and the messages are its."""
    tear_tail = StringProperty("")
    tear_remaining = NumericProperty(0)
    tear_note = StringProperty("")           # "" | card.tear.not_same | card.tear.hold_still
    tear_busy = BooleanProperty(False)

    nav: Navigator
    service: WalletService
    _spawn: Spawn
    _gen: int                                # bumped by reset(): late answers of a left flow are dropped
    # CardServices' own (flow.py, pin.py, reading.py)
    _clear_pins: Callable[[], None]
    _drop_swipe: Callable[[], None]
    _probe: Callable[[int], Coroutine[Any, Any, None]]
    _present_in: Callable[[str], Coroutine[Any, Any, bool]]
    _approved: Callable[[WalletOutcome], None]
    _declined: Callable[[WalletOutcome], None]
    _message: Callable[..., Message]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tear_wait_s = TEAR_WAIT_S
        self._tear_clock: Any = None
        self._tear_owner: TearOwner | None = None   # None: the CPU wallet's tear

    def _start_tear(self, serial: str, owner: TearOwner | None = None) -> None:
        self._tear_owner = owner
        self._clear_pins()
        self._drop_swipe()
        self.tear_tail = card_view.serial_tail(serial)
        self.tear_note = ""
        self.tear_busy = False
        self.tear_remaining = self.tear_wait_s
        self._stop_tear_clock()
        self._tear_clock = Clock.schedule_interval(self._tear_tick, 1.0)
        self.nav.screen = Screen.CARD_TEAR
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
        owner = self._tear_owner
        try:
            outcome = await (owner.resume_torn(reader) if owner is not None else self.service.resume_torn(reader))
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
            if owner is not None:
                owner.show_outcome(outcome)
            elif outcome.approved:
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
            owner = self._tear_owner
            await (owner.abandon_torn() if owner is not None else self.service.abandon_torn())
        except Exception:  # noqa: BLE001 - the journal still holds it; the message is still true
            log.exception("tear: abandoning failed")
        self.tear_busy = False
        self.nav.show(self._message("card.tear.abandoned", title="card.tear.abandoned.title", tone="info",
                                    back_to=Screen.IDLE))

    def _stop_tear_clock(self) -> None:
        if self._tear_clock is not None:
            self._tear_clock.cancel()
            self._tear_clock = None

