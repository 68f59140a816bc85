"""The ports services depend on. Adapters raise only the typed errors of
kiosk.domain.errors (converting library exceptions at the boundary)."""
from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol

from kiosk.cards.apdu import ApduTransport
from common.bank_card import CardSwipe
from kiosk.domain.receipt import Receipt


class CardReader(Protocol):
    async def read_swipe(self, timeout_s: float) -> CardSwipe:
        """Arm the reader and wait for one swipe. Raises BadSwipe (please swipe
        again), SwipeTimeout, ReaderFault."""

    async def cancel(self) -> None:
        """Disarm; a pending read_swipe raises SwipeTimeout."""

    async def close(self) -> None: ...


class PinKey(enum.Enum):
    """What the pad reports as keys are pressed: never the digit's value."""

    DIGIT = "digit"
    BACKSPACE = "backspace"
    CLEAR = "clear"
    CANCEL = "cancel"
    ENTER = "enter"


class KeySlot(enum.IntEnum):
    """The pad's PIN key slots (a real EPP holds several keys): each PIN block
    is made under the key of the party that checks it (docs/payments.md)."""

    HOST = 0   # the signed HTTP channel's PIN key: the card centre's bank leg (wallet load/unload)
    BANK = 1   # the ISO 8583 bank link's PIK: bill payments, bank-card services


class PinPad(Protocol):
    async def load_pin_key(self, slot: KeySlot, wrapped: bytes, check_value: bytes) -> None:
        """Load a PIN working key into `slot`, encrypted under the pad's terminal
        master key; the pad checks the KCV. The other slot keeps its key.
        Raises PinPadFault."""

    async def collect_pin(self, slot: KeySlot, pan: str, on_key: Callable[[PinKey, int], None],
                          timeout_s: float) -> bytes:
        """Ask the pad to collect a 6-digit PIN for `pan`. `on_key(key, digits_entered)`
        is called from the event loop for every key press. Returns the ISO 9564
        format-0 PIN block encrypted under the PIN key in `slot` (8 bytes).
        Raises PinEntryCancelled, PinEntryTimeout, PinPadFault (no key in `slot`)."""

    async def collect_card_pin(self, on_key: Callable[[PinKey, int], None], timeout_s: float,
                               min_len: int = 6, max_len: int = 6) -> str:
        """Ask the pad for an IC card's own PIN (min_len..max_len digits, within
        4..12), with key events as for collect_pin. Returns the digits in clear:
        they go to the card and nowhere else (never a log, journal or disk).
        Needs no PIN key. Raises PinEntryCancelled, PinEntryTimeout, PinPadFault."""

    async def cancel(self) -> None: ...

    async def close(self) -> None: ...


class PaperStatus(enum.Enum):
    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"


class ReceiptPrinter(Protocol):
    async def prepare(self) -> None:
        """Load the driver / open the device ahead of the first receipt (at start)."""

    async def paper_status(self) -> PaperStatus:
        """Raises PrinterFault if the printer does not answer."""

    async def print_receipt(self, receipt: Receipt) -> None:
        """Print as one buffer. Raises PaperOut, PrinterFault."""

    async def close(self) -> None: ...


class IcReader(Protocol):
    """A PC/SC reader of IC cards (contact or contactless): the wallet's card I/O.
    Blocking calls: the services run them in worker threads."""

    def card_present(self) -> bool:
        """Raises ReaderFault when the reader (or pcscd) does not answer."""

    def connect(self) -> ApduTransport:
        """Power the card and open a session to it. Raises CardRemoved (no card),
        CardFault, ReaderFault."""
