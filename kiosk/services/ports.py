"""The ports the money services (payment.py, wallet.py) reach the host
session and the settling task through. The composition root injects the one
HostSession (session.py) and SettlingService (settling.py) into both; neither
money service knows the other."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

T = TypeVar("T")

# how long a resident has at the PIN pad, for a bank card's PIN and a card's own
PIN_TIMEOUT_S = 60.0


class HostSessionPort(Protocol):
    """Signed on with the bank front-end: working keys fetched, the PIN key in the pad."""

    @property
    def signed_on(self) -> bool: ...

    async def ensure_signed_on(self) -> None:
        """Sign on unless signed on; HostUnavailable while the host is down."""

    async def with_sign_on(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`, once more after a sign-on if the host refused our MAC key."""


class SettlingPort(Protocol):
    """The one background task that sends what the host must still hear of."""

    @property
    def suspended(self) -> bool:
        """True while a reversal, cancel or confirmation is unacknowledged: no new
        financial transaction may start (DESIGN §3)."""

    def add_settler(self, settle: Callable[[], Awaitable[bool]]) -> None:
        """A service's own unacknowledged messages, sent by the same task (after
        reversals, before backup copies); `settle()` is True when none is left."""

    def wake(self) -> None:
        """Something new to send: a pass now, not at the end of the back-off."""

    async def send_journaled(self, txn_id: str, send: Callable[[], Awaitable[T]], *,
                             undo: str, renewed: str, record: Callable[..., None] | None = None) -> T:
        """Send the money request journaled as `txn_id` and journal what a failure
        says about the money (see SettlingService.send_journaled)."""
