"""The estate one-card's layout (DESIGN §5 "MIFARE Classic 1K"): the sector map,
the access bytes and the keys' shape, pure and shared by the terminal
(kiosk/cards/mifare*.py), the virtual card and, next, the host's card centre.
The blocks' codecs are in common/onecard_blocks.py; the keys are the issuer's
(common/onecard_keys.py) and the terminal is handed them."""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

BLOCK_LEN = 16
SECTORS = 16
BLOCKS_PER_SECTOR = 4
KEY_LEN = 6
UID_LEN = 4
MAX_AMOUNT = 0xFFFFFF           # amounts and balances are 3 bytes on the card
VALUE_OPERAND_MAX = 2**31 - 1   # the value operation's operand
RECORD_SLOTS = 9
COUNT_MODULO = 65536
SECTOR0_KEY_A = bytes.fromhex("A0A1A2A3A4A5")
# Answer to reset a PC/SC reader reports for a MIFARE Classic 1K (PC/SC Part 3
# storage card ATR: RID A000000306, standard 03, card name 0001).
ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")


class MalformedBlock(ValueError):
    """A block whose bytes fail the layout's checks (XOR, inverse, value-block
    redundancy, BCD, lengths)."""


class Area(IntEnum):
    """The area codes of the directory (sector 0, block 1)."""
    DIRECTORY = 0x00
    ISSUANCE = 0x01
    RECORDS = 0x03
    PUBLIC_INFO = 0x06
    WALLET = 0x10
    ESTATE = 0x20
    DOOR = 0x21
    UNUSED = 0xFF


class KeyType(IntEnum):
    """The key byte of AUTHENTICATE."""
    A = 0x60
    B = 0x61


class TxnType(IntEnum):
    """Record types, shared by the pending type of the public info."""
    LOAD = 0x01
    BILL_PAYMENT = 0x05
    TRANSFER_IN = 0x07
    TRANSFER_OUT = 0x08

    @property
    def is_credit(self) -> bool:
        return self in (TxnType.LOAD, TxnType.TRANSFER_IN)


class Flag(IntEnum):
    IN_PROGRESS = 0x01
    DONE = 0x02


BLACK_OK, BLACK_LISTED = 0x00, 0x04


@dataclass(frozen=True)
class SectorKeys:
    a: bytes
    b: bytes

    def __post_init__(self) -> None:
        if len(self.a) != KEY_LEN or len(self.b) != KEY_LEN:
            raise ValueError("MIFARE keys are 6 bytes")

    def of(self, key_type: KeyType) -> bytes:
        return self.a if key_type is KeyType.A else self.b

    def __repr__(self) -> str:   # keys never reach a log
        return "SectorKeys(…)"


class SectorKeyProvider(Protocol):
    """Where the terminal gets a sector's keys. In the product the host's card
    centre derives them for the card's UID and sends them for one session."""

    def sector_keys(self, uid: bytes, sector: int) -> SectorKeys: ...


# --- access bits --------------------------------------------------------------
def access_bytes(data_code: int, trailer_code: int) -> bytes:
    """Trailer bytes 6..9 for one access code (C1C2C3 as a 3-bit number) shared
    by the three data blocks and one for the trailer; byte 9 is 69."""
    codes = (data_code, data_code, data_code, trailer_code)
    c1 = sum(((c >> 2) & 1) << i for i, c in enumerate(codes))
    c2 = sum(((c >> 1) & 1) << i for i, c in enumerate(codes))
    c3 = sum((c & 1) << i for i, c in enumerate(codes))
    return bytes([((~c2 & 0xF) << 4) | (~c1 & 0xF), (c1 << 4) | (~c3 & 0xF), (c3 << 4) | c2, 0x69])


def access_codes(raw: bytes) -> tuple[int, int, int, int]:
    """The four blocks' access codes from trailer bytes 6..8 (or 6..9);
    MalformedBlock if the inverted copies disagree."""
    b6, b7, b8 = raw[0], raw[1], raw[2]
    c1, c2, c3 = b7 >> 4, b8 & 0xF, b8 >> 4
    if (~c1 & 0xF) != (b6 & 0xF) or (~c2 & 0xF) != (b6 >> 4) or (~c3 & 0xF) != (b7 & 0xF):
        raise MalformedBlock("access bits and their inverse disagree")
    codes = [((c1 >> i & 1) << 2) | ((c2 >> i & 1) << 1) | (c3 >> i & 1) for i in range(4)]
    return codes[0], codes[1], codes[2], codes[3]


DATA_WALLET, DATA_READ_A_WRITE_B, DATA_OPEN, TRAILER_KEYS_B = 0b110, 0b100, 0b000, 0b011


# --- the sector map -------------------------------------------------------------
@dataclass(frozen=True)
class SectorMap:
    """Which sector holds which area (the demo map by default; a site's may
    differ). Blocks are absolute block numbers 0..63."""
    issuance: int = 1
    wallet: int = 2
    records: tuple[int, int, int] = (3, 4, 5)
    public_info: int = 6
    estate: int = 7
    door: int = 8
    directory: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        used = [self.issuance, self.wallet, *self.records, self.public_info, self.estate, self.door]
        if len(set(used)) != len(used) or not all(1 <= s < SECTORS for s in used):
            raise ValueError("one-card areas need distinct sectors 1..15")

    def area_of(self, sector: int) -> Area:
        areas = {0: Area.DIRECTORY, self.issuance: Area.ISSUANCE, self.wallet: Area.WALLET,
                 self.public_info: Area.PUBLIC_INFO, self.estate: Area.ESTATE, self.door: Area.DOOR,
                 **{s: Area.RECORDS for s in self.records}}
        return areas.get(sector, Area.UNUSED)

    def directory_block(self) -> bytes:
        """Block 1: one area code per sector."""
        return bytes(self.area_of(s) for s in range(SECTORS))

    def access(self, sector: int) -> bytes:
        area = self.area_of(sector)
        if area is Area.WALLET:
            return access_bytes(DATA_WALLET, TRAILER_KEYS_B)
        if area in (Area.DIRECTORY, Area.ISSUANCE):
            return access_bytes(DATA_READ_A_WRITE_B, TRAILER_KEYS_B)
        return access_bytes(DATA_OPEN, TRAILER_KEYS_B)

    @property
    def issuance_block(self) -> int:
        return first_block(self.issuance)

    @property
    def auth_block(self) -> int:
        return first_block(self.issuance) + 1

    @property
    def purse_block(self) -> int:
        return first_block(self.wallet)

    @property
    def backup_block(self) -> int:
        return first_block(self.wallet) + 1

    @property
    def public_block(self) -> int:
        return first_block(self.public_info)

    @property
    def public_inverse_block(self) -> int:
        return first_block(self.public_info) + 1

    @property
    def estate_block(self) -> int:
        return first_block(self.estate)

    @property
    def name_block(self) -> int:
        return first_block(self.estate) + 1

    @property
    def door_block(self) -> int:
        return first_block(self.door)

    def record_block(self, slot: int) -> int:
        """Record slot 0..8 -> its block (12 13 14 16 17 18 20 21 22 on the demo map)."""
        if not 0 <= slot < RECORD_SLOTS:
            raise ValueError("record slots are 0..8")
        return first_block(self.records[slot // 3]) + slot % 3


DEMO_MAP = SectorMap()


def first_block(sector: int) -> int:
    return sector * BLOCKS_PER_SECTOR


def sector_of(block: int) -> int:
    return block // BLOCKS_PER_SECTOR


def is_trailer(block: int) -> bool:
    return block % BLOCKS_PER_SECTOR == BLOCKS_PER_SECTOR - 1


def trailer(keys: SectorKeys, access: bytes) -> bytes:
    return keys.a + access + keys.b


# --- small codecs -----------------------------------------------------------------
def xor(data: bytes) -> int:
    return functools.reduce(operator.xor, data, 0)


def invert(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def u24(value: int) -> bytes:
    if not 0 <= value <= MAX_AMOUNT:
        raise ValueError(f"{value} does not fit 3 bytes (0..{MAX_AMOUNT})")
    return value.to_bytes(3, "big")


class SessionKeys:
    """The keys of one card for one session, as the card centre sends them: a
    `SectorKeyProvider` that knows only that UID and those sectors (LookupError
    for anything else)."""

    def __init__(self, uid: bytes, keys: dict[int, SectorKeys]) -> None:
        self.uid = bytes(uid)
        self._keys = dict(keys)

    def sector_keys(self, uid: bytes, sector: int) -> SectorKeys:
        if bytes(uid) != self.uid or sector not in self._keys:
            raise LookupError(f"no session key for sector {sector} of this card")
        return self._keys[sector]
