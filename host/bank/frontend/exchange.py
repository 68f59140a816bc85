"""One request and its reply on the ISO 8583 link: what a message handler is
given (`Exchange`), what it returns (`Answer`), the response codes of
BANK-8583.md §5, and the bank's decline codes mapped onto them."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final


from common.bank8583.codec import FieldValue, Message
from common.bank8583.errors import WireError
from common.bank8583.keys import WorkingKeys
from host.bank.frontend.session import Session
from host.bank.keys import KioskState
from host.bank.security import Context
from host.config import HostSettings

APPROVED: Final = "00"
INVALID_CARD: Final = "14"
INSUFFICIENT_FUNDS: Final = "51"
EXPIRED_CARD: Final = "54"
WRONG_PIN: Final = "55"
OVER_LIMIT: Final = "61"
RESTRICTED_CARD: Final = "62"
PIN_TRIES_EXCEEDED: Final = "75"
DUPLICATE: Final = "94"
MALFUNCTION: Final = "96"
NOT_REGISTERED: Final = "97"
PIN_ERROR: Final = "99"
MAC_ERROR: Final = "A0"

# host.bank.payments' decline codes (the JSON bank's) as field 39
DECLINES: Final[Mapping[str, str]] = {
    "unknown_card": INVALID_CARD, "card_blocked": RESTRICTED_CARD, "expired_card": EXPIRED_CARD,
    "pin_locked": PIN_TRIES_EXCEEDED, "wrong_pin": WRONG_PIN, "daily_limit": OVER_LIMIT,
    "insufficient_funds": INSUFFICIENT_FUNDS, PIN_ERROR: PIN_ERROR,
}


class Malformed(Exception):
    """A request that parsed but lacks a field its message needs, or holds a value
    this front-end cannot act on: answered 96, nothing changed (rolled back)."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """A request whose terminal is known and whose MAC verified (or a sign-on)."""

    request: Message
    settings: HostSettings
    terminal_id: str
    kiosk_id: str
    tmk: bytes
    session: Session | None
    keys: WorkingKeys | None      # the session's, or a sign-on's new ones
    now: datetime

    @property
    def day(self) -> date:
        return self.now.date()

    def text(self, number: int) -> str:
        try:
            return self.request.text(number)
        except WireError:
            raise Malformed(f"field {number} is required") from None

    def data(self, number: int) -> bytes:
        try:
            return self.request.data(number)
        except WireError:
            raise Malformed(f"field {number} is required") from None

    def bank_context(self) -> Context:
        """What host.bank.payments' card and PIN checks take (the PIK of this session)."""
        keys = self.keys
        pik, mak = (keys.pik, keys.mak) if keys is not None else (None, None)
        return Context(self.settings, KioskState(self.kiosk_id, 0, 0, pik, mak), self.tmk, self.day, self.now)


@dataclass(frozen=True, slots=True)
class Answer:
    """A handler's reply: 39 and the fields it adds to those echoed."""

    code: str
    fields: dict[int, FieldValue] = field(default_factory=dict)


def clock_fields(now: datetime) -> dict[int, FieldValue]:
    """12 and 13: the front-end's local time and date."""
    return {12: f"{now:%H%M%S}", 13: f"{now:%m%d}"}


def reply_mti(mti: str) -> str:
    """The request's MTI + 10 (0200 -> 0210)."""
    return mti[:2] + str(int(mti[2]) + 1) + mti[3]


def echoed(request: Message, *numbers: int) -> dict[int, FieldValue]:
    return {n: request.fields[n] for n in numbers if n in request.fields}


def session_batch(ex: Exchange) -> str:
    """60.2 of the request (n6)."""
    value = ex.text(60)
    if len(value) < 11 or not value[:11].isdigit():
        raise Malformed("field 60 needs 11 digits")
    return value[2:8]
