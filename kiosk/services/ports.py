"""The ports the money services (payment.py, wallet.py) reach the host
session and the settling task through. The composition root injects the one
HostSession (session.py) and SettlingService (settling.py) into both; neither
money service knows the other. The bank-card services (bank_card_services.py)
reach the bank link through `BankCardPort`."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from common.money import Money

T = TypeVar("T")

# how long a resident has at the PIN pad, for a bank card's PIN and a card's own
PIN_TIMEOUT_S = 60.0


class HostSessionPort(Protocol):
    """Signed on with the bank front-end: working keys fetched, the PIN key in the pad."""

    @property
    def signed_on(self) -> bool: ...

    async def ensure_signed_on(self) -> None:
        """Sign on unless signed on; HostUnavailable while the host is down."""

    async def ensure_link_ready(self) -> None:
        """The bank link signed on for today and its PIK in the pad's bank slot
        (a no-op for a kiosk without the link); BankUnavailable while it is down."""

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

    async def settle_once(self) -> bool:
        """One settling pass now (reversals, settlers, backup copies); True when
        nothing is left."""

    def wake(self) -> None:
        """Something new to send: a pass now, not at the end of the back-off."""

    async def send_journaled(self, txn_id: str, send: Callable[[], Awaitable[T]], *,
                             undo: str, renewed: str, record: Callable[..., None] | None = None) -> T:
        """Send the money request journaled as `txn_id` and journal what a failure
        says about the money (see SettlingService.send_journaled)."""


class BankCardPort(Protocol):
    """The bank's card services over the bank link (`BankLink`,
    kiosk/backend_client/bank8583/client.py): only PIN blocks reach it.
    Its errors are kiosk.domain.errors' bank errors (BankDeclined with the
    response code and tries left, BankUnavailable, BankSignOnRequired, ...)."""

    @property
    def sign_on_due(self) -> bool:
        """True when the next exchange signs on first (new keys: a PIN block made before is void)."""

    async def sign_on(self) -> WorkingKeysForPad:
        """Sign on now; the PIN key (wrapped under the TMK) for the pad."""

    async def balance(self, track2: str, pin_block: bytes) -> Money: ...

    async def change_pin(self, track2: str, old_block: bytes, new_block: bytes) -> None: ...

    async def aclose(self) -> None: ...


class WorkingKeysForPad(Protocol):
    """What a sign-on hands the PIN pad (kiosk.backend_client.bank.WorkingKeys)."""

    @property
    def pin_key_wrapped(self) -> bytes: ...
    @property
    def pin_kcv(self) -> bytes: ...
