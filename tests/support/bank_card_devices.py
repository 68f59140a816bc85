"""Devices for the bank-card services' headless tests
(tests/payments/test_bank_card_services.py): a PIN pad that makes real ISO
9564 format 0 blocks under the PIK it was loaded with (as the pad does) and
records everything it hands out, a card reader with one card, a printer that
keeps what it printed."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from common.bank8583.keys import ecb_decrypt, ecb_encrypt
from common.bank_card import CardSwipe
from common.crypto import pin_block_format0
from kiosk.devices.ports import KeySlot, PinKey
from kiosk.domain.receipt import Receipt
from tests.support.bank8583 import PAN, TMK, TRACK2


@dataclass
class BlockPad:
    """A PIN pad: `typed` are the PINs residents will type, in order."""
    tmk: bytes = TMK
    typed: deque[str] = field(default_factory=deque)
    pik: bytes | None = None
    handed: list[object] = field(default_factory=list)   # every value the pad gave the kiosk
    loads: int = 0

    def type(self, *pins: str) -> None:
        self.typed.extend(pins)

    async def load_pin_key(self, slot: KeySlot, wrapped: bytes, check_value: bytes) -> None:
        assert slot is KeySlot.BANK, "the bank-card services' PIN blocks are checked by the bank"
        self.pik = ecb_decrypt(self.tmk, wrapped)
        assert ecb_encrypt(self.pik, bytes(8))[:len(check_value)] == check_value, "the pad refuses a bad KCV"
        self.loads += 1

    async def collect_pin(self, slot: KeySlot, pan: str, on_key: Callable[[PinKey, int], None],
                          timeout_s: float) -> bytes:
        assert slot is KeySlot.BANK and self.pik is not None, "no bank PIN key loaded"
        pin = self.typed.popleft()
        for i in range(len(pin)):
            on_key(PinKey.DIGIT, i + 1)
        block = ecb_encrypt(self.pik, pin_block_format0(pin, pan))
        self.handed.append(block)
        return block

    async def collect_card_pin(self, on_key: Callable[[PinKey, int], None], timeout_s: float,
                               min_len: int = 6, max_len: int = 6) -> str:
        raise AssertionError("the bank-card services never ask the pad for a clear PIN")

    async def cancel(self) -> None:
        pass

    async def close(self) -> None:
        pass


@dataclass
class OneCardReader:
    # the examples' card (its PAN fails Luhn, so it is made, not parsed), as the reader hands it
    swipe: CardSwipe = field(default_factory=lambda: CardSwipe(pan=PAN, expiry="3012", service_code="101",
                                                               track2=f";{TRACK2}?"))

    async def read_swipe(self, timeout_s: float) -> CardSwipe:
        return self.swipe

    async def cancel(self) -> None:
        pass

    async def close(self) -> None:
        pass


@dataclass
class KeptPrinter:
    printed: list[Receipt] = field(default_factory=list)

    async def prepare(self) -> None:
        pass

    async def paper_status(self) -> object:
        raise NotImplementedError

    async def print_receipt(self, receipt: Receipt) -> None:
        self.printed.append(receipt)

    async def close(self) -> None:
        pass
