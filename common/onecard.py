"""The estate one-card's layout (DESIGN §5 "MIFARE Classic 1K"): the sector map
and the codecs of its blocks, pure and shared by the terminal
(kiosk/cards/mifare*.py), the virtual card and, next, the host's card centre.
The keys are the issuer's (common/onecard_keys.py); the terminal is handed them.

Multi-byte binary fields are big-endian, except the value block (little-endian
as on every MIFARE Classic). Every decoder checks what it can (XOR bytes,
inverted copies, value-block redundancy) and raises `MalformedBlock`."""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from datetime import date, datetime
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
    return tuple(((c1 >> i & 1) << 2) | ((c2 >> i & 1) << 1) | (c3 >> i & 1) for i in range(4))  # type: ignore[return-value]


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


def _bcd(text: str) -> bytes:
    return bytes.fromhex(text)


def _from_bcd(raw: bytes, what: str) -> str:
    text = raw.hex()
    if not text.isdigit():
        raise MalformedBlock(f"{what} is not BCD: {raw.hex().upper()}")
    return text


def _check_len(raw: bytes) -> None:
    if len(raw) != BLOCK_LEN:
        raise MalformedBlock(f"a block is 16 bytes, not {len(raw)}")


# --- value block ------------------------------------------------------------------
def encode_value(value: int, adr: int) -> bytes:
    v = value.to_bytes(4, "little", signed=True)
    return v + invert(v) + v + bytes([adr, adr ^ 0xFF, adr, adr ^ 0xFF])


def decode_value(raw: bytes) -> tuple[int, int]:
    """(value, adr); MalformedBlock unless every copy agrees."""
    _check_len(raw)
    v = raw[0:4]
    if raw[4:8] != invert(v) or raw[8:12] != v:
        raise MalformedBlock("value block copies disagree")
    adr = raw[12]
    if raw[13] != adr ^ 0xFF or raw[14] != adr or raw[15] != adr ^ 0xFF:
        raise MalformedBlock("value block address copies disagree")
    return int.from_bytes(v, "little", signed=True), adr


# --- issuance (blocks 4, 5) -----------------------------------------------------------
class CardKind(IntEnum):
    RESIDENT = 0x01
    STAFF = 0x02
    TEMPORARY = 0x03


class CardStatus(IntEnum):
    ACTIVE = 0x01
    LOST = 0x02
    RETURNED = 0x03


@dataclass(frozen=True)
class Issuance:
    city: str               # 4 digits, BCD on the card
    serial: int             # 4 bytes binary
    kind: CardKind
    status: CardStatus
    issued: date
    expiry: date            # YYMMDD on the card: 2000..2099

    def encode(self) -> bytes:
        if len(self.city) != 4 or not self.city.isdigit():
            raise ValueError("the city code is 4 digits")
        if not 2000 <= self.expiry.year <= 2099:
            raise ValueError("the expiry's year must be 2000..2099 (YYMMDD)")
        body = (_bcd(self.city) + self.serial.to_bytes(4, "big") + bytes([self.kind, self.status])
                + _bcd(f"{self.issued:%Y%m%d}") + _bcd(f"{self.expiry:%y%m%d}"))
        return body + bytes([xor(body)])

    @classmethod
    def decode(cls, raw: bytes) -> Issuance:
        _check_len(raw)
        if xor(raw[:15]) != raw[15]:
            raise MalformedBlock("issuance XOR fails")
        try:
            issued = datetime.strptime(_from_bcd(raw[8:12], "issue date"), "%Y%m%d").date()
            expiry = datetime.strptime("20" + _from_bcd(raw[12:15], "expiry"), "%Y%m%d").date()
            return cls(_from_bcd(raw[0:2], "city"), int.from_bytes(raw[2:6], "big"), CardKind(raw[6]),
                       CardStatus(raw[7]), issued, expiry)
        except ValueError as exc:
            raise MalformedBlock(f"issuance: {exc}") from exc


def auth_block(code: bytes) -> bytes:
    """Block 5: the 4-byte auth code and 12 zero bytes."""
    if len(code) != 4:
        raise ValueError("the auth code is 4 bytes")
    return code + bytes(12)


# --- public info (blocks 24, 25) ------------------------------------------------------
@dataclass(frozen=True)
class PublicInfo:
    pointer: int            # 0..8: the last record written (8 on a new card)
    count: int              # transactions, wrapping at 65536
    flag: int               # Flag, or anything a broken card holds
    black: int = BLACK_OK
    pending_type: int = 0
    pending_amount: int = 0
    balance_before: int = 0

    def encode(self) -> bytes:
        if not 0 <= self.pointer < RECORD_SLOTS:
            raise ValueError("the record pointer is 0..8")
        body = (bytes([self.pointer]) + self.count.to_bytes(2, "big") + bytes([self.flag, self.black,
                self.pending_type]) + u24(self.pending_amount) + u24(self.balance_before) + bytes(3))
        return body + bytes([xor(body)])

    def blocks(self) -> tuple[bytes, bytes]:
        """Block 24 and block 25 (24 inverted)."""
        b24 = self.encode()
        return b24, invert(b24)

    @classmethod
    def decode(cls, raw: bytes) -> PublicInfo:
        _check_len(raw)
        if xor(raw[:15]) != raw[15]:
            raise MalformedBlock("public info XOR fails")
        if raw[0] >= RECORD_SLOTS:
            raise MalformedBlock(f"record pointer {raw[0]} is not 0..8")
        return cls(raw[0], int.from_bytes(raw[1:3], "big"), raw[3], raw[4], raw[5],
                   int.from_bytes(raw[6:9], "big"), int.from_bytes(raw[9:12], "big"))

    @property
    def next_slot(self) -> int:
        return (self.pointer + 1) % RECORD_SLOTS


def read_public_info(b24: bytes, b25: bytes) -> tuple[PublicInfo, bool]:
    """The read rule: trust 24 if its XOR holds and 25 is its inverse, else ~25
    if that is valid. Returns (info, rewrite): rewrite is True when both blocks
    must be written again. MalformedBlock when neither holds."""
    try:
        info = PublicInfo.decode(b24)
        if b25 == invert(b24):
            return info, False
    except MalformedBlock:
        pass
    return PublicInfo.decode(invert(b25)), True


# --- records ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    seq: int
    txn_type: int
    amount: int
    balance_after: int
    terminal: bytes         # the last 3 bytes of the terminal id
    when: str               # MMDDhhmm

    @classmethod
    def make(cls, seq: int, txn_type: int, amount: int, balance_after: int, terminal_id: bytes,
             when: datetime) -> Record:
        return cls(seq % COUNT_MODULO, txn_type, amount, balance_after, terminal_id[-3:], f"{when:%m%d%H%M}")

    def encode(self) -> bytes:
        if len(self.terminal) != 3:
            raise ValueError("a record holds the last 3 bytes of the terminal id")
        return (self.seq.to_bytes(2, "big") + bytes([self.txn_type]) + u24(self.amount)
                + u24(self.balance_after) + self.terminal + _bcd(self.when))

    @classmethod
    def decode(cls, raw: bytes) -> Record:
        _check_len(raw)
        return cls(int.from_bytes(raw[0:2], "big"), raw[2], int.from_bytes(raw[3:6], "big"),
                   int.from_bytes(raw[6:9], "big"), raw[9:12], _from_bcd(raw[12:16], "record time"))

    def same_transaction(self, other: Record) -> bool:
        """What makes a record "not missing": seq, type, amount, balance after."""
        return (self.seq, self.txn_type, self.amount, self.balance_after) == (
            other.seq, other.txn_type, other.amount, other.balance_after)


# --- estate data (blocks 28, 29) and door (32) ------------------------------------------
@dataclass(frozen=True)
class EstateData:
    house: str              # ASCII, at most 12 characters
    household_id: int       # 4 bytes binary
    holder: str             # GB18030, at most 16 bytes: refused, never cut

    def encode(self) -> tuple[bytes, bytes]:
        if not self.house.isascii() or len(self.house) > 12:
            raise ValueError("the house number is at most 12 ASCII characters")
        name = self.holder.encode("gb18030")
        if len(name) > 16:
            raise ValueError(f"the holder's name is {len(name)} GB18030 bytes, over 16")
        return (self.house.encode("ascii").ljust(12, b" ") + self.household_id.to_bytes(4, "big"),
                name.ljust(16, b"\x00"))

    @classmethod
    def decode(cls, b28: bytes, b29: bytes) -> EstateData:
        _check_len(b28)
        _check_len(b29)
        try:
            return cls(b28[:12].decode("ascii").rstrip(" "), int.from_bytes(b28[12:16], "big"),
                       b29.rstrip(b"\x00").decode("gb18030"))
        except UnicodeDecodeError as exc:
            raise MalformedBlock(f"estate data: {exc}") from exc


@dataclass(frozen=True)
class Door:
    groups: int             # 64-bit bitmap
    valid_until: date

    def encode(self) -> bytes:
        return self.groups.to_bytes(8, "big") + _bcd(f"{self.valid_until:%Y%m%d}") + bytes(4)

    @classmethod
    def decode(cls, raw: bytes) -> Door:
        _check_len(raw)
        try:
            until = datetime.strptime(_from_bcd(raw[8:12], "door validity"), "%Y%m%d").date()
        except ValueError as exc:
            raise MalformedBlock(f"door: {exc}") from exc
        return cls(int.from_bytes(raw[0:8], "big"), until)


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
