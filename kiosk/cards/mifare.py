"""A MIFARE Classic card through a PC/SC contactless reader, driven only with
the PC/SC Part 3 pseudo-APDUs of DESIGN §5 (class FF), so that an ACR122U /
ACR1252U works as well as our virtual card behind vpcd.

Errors: the transport's ReaderFault / CardRemoved as they come; `63 00` to
LOAD KEY or AUTHENTICATE is CardAuthRefused; `63 00` to anything else (access
refused, a malformed value block) and any other status or length is CardFault;
a block our layout cannot decode is CardBlockMalformed (raised by the callers
that decode, kiosk/cards/mifare_purse.py). The terminal never holds a key of
its own: each `login` is given one."""
from __future__ import annotations

from enum import IntEnum

from common.onecard import BLOCK_LEN, KEY_LEN, UID_LEN, VALUE_OPERAND_MAX, KeyType, MalformedBlock
from common.onecard_blocks import decode_value
from kiosk.cards.apdu import ApduTransport, Response, exchange
from kiosk.domain.errors import CardAuthRefused, CardBlockMalformed, CardFault

SW_OK = 0x9000
SW_FAILED = 0x6300
KEY_SLOT = 0x00          # the reader's volatile key slot


# PC/SC Part 3 §3.1.3.2.3: a contactless storage card's ATR, as the reader
# builds it: 3B 8F 80 01, historical bytes 80 4F 0C (application identifier
# presence, 12 bytes) RID A0 00 00 03 06, the standard SS, the card name NN NN,
# 4 RFU bytes 00, and TCK (XOR of T0 … the last historical byte).
_PART3_HEAD = bytes.fromhex("3B8F8001804F0CA000000306")
STANDARD_14443A_3 = 0x03
CARD_NAME_CLASSIC_1K = 0x0001


def storage_card_name(atr: bytes) -> tuple[int, int] | None:
    """(standard, card name) of a PC/SC Part 3 storage card ATR; None for any
    other ATR (a CPU card's carries its own historical bytes) or a bad TCK."""
    if len(atr) != 20 or not atr.startswith(_PART3_HEAD) or any(atr[15:19]):
        return None
    tck = 0
    for byte in atr[1:19]:
        tck ^= byte
    if tck != atr[19]:
        return None
    return atr[12], int.from_bytes(atr[13:15], "big")


def is_classic_1k_atr(atr: bytes) -> bool:
    """Whether the reader reports a MIFARE Classic 1K (ISO 14443A part 3, name 0001)."""
    return storage_card_name(atr) == (STANDARD_14443A_3, CARD_NAME_CLASSIC_1K)


class ValueOp(IntEnum):
    INCREMENT = 0x01
    DECREMENT = 0x02


class MifareClassic:
    """One card in the reader, over an APDU transport (kiosk/cards/apdu.py)."""

    def __init__(self, transport: ApduTransport) -> None:
        self._transport = transport

    def uid(self) -> bytes:
        data = self._ok(bytes.fromhex("FFCA000000"), "GET UID")
        if len(data) != UID_LEN:
            raise CardFault(f"GET UID: {len(data)} bytes, a MIFARE Classic 1K has a 4-byte UID")
        return data

    def load_key(self, key: bytes) -> None:
        if len(key) != KEY_LEN:
            raise ValueError("MIFARE keys are 6 bytes")
        self._ok(bytes([0xFF, 0x82, 0x00, KEY_SLOT, KEY_LEN]) + key, "LOAD KEY", auth=True)

    def authenticate(self, block: int, key_type: KeyType) -> None:
        apdu = bytes([0xFF, 0x86, 0x00, 0x00, 0x05, 0x01, 0x00, _block(block), key_type, KEY_SLOT])
        self._ok(apdu, f"AUTHENTICATE block {block} key {key_type.name}", auth=True)

    def login(self, block: int, key_type: KeyType, key: bytes) -> None:
        """Load the key and authenticate the block's sector with it."""
        self.load_key(key)
        self.authenticate(block, key_type)

    def read(self, block: int) -> bytes:
        data = self._ok(bytes([0xFF, 0xB0, 0x00, _block(block), BLOCK_LEN]), f"READ block {block}")
        if len(data) != BLOCK_LEN:
            raise CardFault(f"READ block {block}: {len(data)} bytes")
        return data

    def write(self, block: int, data: bytes) -> None:
        if len(data) != BLOCK_LEN:
            raise ValueError("a block is 16 bytes")
        self._ok(bytes([0xFF, 0xD6, 0x00, _block(block), BLOCK_LEN]) + data, f"WRITE block {block}")

    def value_op(self, block: int, op: ValueOp, amount: int) -> None:
        """Increment or decrement a value block by `amount`, stored back to it."""
        if not 0 <= amount <= VALUE_OPERAND_MAX:
            raise ValueError(f"the value operand is 0..{VALUE_OPERAND_MAX}")
        apdu = bytes([0xFF, 0xD7, 0x00, _block(block), 0x05, op]) + amount.to_bytes(4, "big")
        self._ok(apdu, f"{op.name} block {block}")

    def restore_transfer(self, source: int, target: int) -> None:
        """Copy a value block to another of the same sector (restore, transfer)."""
        self._ok(bytes([0xFF, 0xD7, 0x00, _block(source), 0x02, 0x03, _block(target)]),
                 f"RESTORE {source} TRANSFER {target}")

    def read_value(self, block: int) -> int:
        """Read a value block and decode it; CardBlockMalformed if it is not one."""
        try:
            return decode_value(self.read(block))[0]
        except MalformedBlock as exc:
            raise CardBlockMalformed(f"block {block}: {exc}") from exc

    def _ok(self, apdu: bytes, what: str, *, auth: bool = False) -> bytes:
        response: Response = exchange(self._transport, apdu)
        if response.sw == SW_OK:
            return response.data
        detail = f"card answered {response.sw:04X} to {what}"
        if response.sw == SW_FAILED and auth:
            raise CardAuthRefused(detail)
        raise CardFault(detail)


def _block(block: int) -> int:
    if not 0 <= block <= 0xFF:
        raise ValueError("block numbers are 0..255")
    return block
