"""The estate one-card's block codecs (DESIGN §5 "MIFARE Classic 1K"): the value
block, issuance (blocks 4, 5), public info (24, 25) and its read rule, records,
estate data (28, 29) and door (32). Pure; the sector map is common/onecard.py.

Multi-byte binary fields are big-endian, except the value block (little-endian
as on every MIFARE Classic). Every decoder checks what it can (XOR bytes,
inverted copies, value-block redundancy, BCD) and raises `MalformedBlock`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum

from common.onecard import BLACK_OK, BLOCK_LEN, COUNT_MODULO, RECORD_SLOTS, MalformedBlock, invert, u24, xor


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
