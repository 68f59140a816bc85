"""The frame around a message (BANK-8583.md §1):

    LEN(2) ‖ TPDU(5) ‖ HEADER(6) ‖ MTI ‖ BITMAP ‖ fields

LEN is the big-endian count of the bytes after it. The TPDU is `60` and two
2-byte addresses, written here as 4 hex digits each (`0003`); a reply swaps
them. The header is 12 BCD digits; the front-end sets digit 6 in replies.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, replace
from typing import Final

from common.bank8583.errors import BadFieldValue, BadLength, Truncated

TPDU_ID: Final = "60"
LEN_SIZE: Final = 2
TPDU_SIZE: Final = 5
HEADER_SIZE: Final = 6
# MTI (2) and bitmap (8) at least follow the header.
MIN_BODY: Final = 10
MAX_LEN: Final = 0xFFFF


def _hex4(value: str, where: str) -> str:
    if len(value) != 4 or not set(value.upper()) <= set(string.hexdigits.upper()):
        raise BadFieldValue(f"an address is 4 hex digits, not {value!r}", where)
    return value.upper()


@dataclass(frozen=True)
class Tpdu:
    destination: str  # 4 hex digits, e.g. "0003"
    source: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "destination", _hex4(self.destination, "TPDU"))
        object.__setattr__(self, "source", _hex4(self.source, "TPDU"))

    def reply(self) -> Tpdu:
        """The reply's TPDU: the two addresses swapped."""
        return Tpdu(self.source, self.destination)

    def encode(self) -> bytes:
        return bytes.fromhex(TPDU_ID + self.destination + self.source)

    @classmethod
    def decode(cls, raw: bytes) -> Tpdu:
        text = raw.hex().upper()
        if len(raw) != TPDU_SIZE or text[:2] != TPDU_ID:
            raise BadFieldValue(f"a TPDU starts with 60, not {text[:2]!r}", "TPDU")
        return cls(text[2:6], text[6:10])


@dataclass(frozen=True)
class Header:
    """HEADER's 12 digits: application category (2), software version (2),
    terminal status (1: 0 normal, 1 test), processing requirement (1: 0 none,
    3 sign on again), reserved (6, `000000`)."""

    version: str = "31"
    terminal_status: str = "0"
    processing: str = "0"
    category: str = "60"
    reserved: str = "000000"

    def __post_init__(self) -> None:
        sizes = ((self.category, 2), (self.version, 2), (self.terminal_status, 1),
                 (self.processing, 1), (self.reserved, 6))
        for value, size in sizes:
            if len(value) != size or not value.isascii() or not value.isdigit():
                raise BadFieldValue(f"header digits {value!r}, expected {size}", "HEADER")

    @property
    def digits(self) -> str:
        return self.category + self.version + self.terminal_status + self.processing + self.reserved

    @property
    def sign_on_required(self) -> bool:
        return self.processing == "3"

    def with_processing(self, digit: str) -> Header:
        """The front-end answers with the request's header, digit 6 set."""
        return replace(self, processing=digit)

    def encode(self) -> bytes:
        return bytes.fromhex(self.digits)

    @classmethod
    def decode(cls, raw: bytes) -> Header:
        d = raw.hex()
        if len(raw) != HEADER_SIZE or not d.isdigit():
            raise BadFieldValue(f"the header is 12 BCD digits, not {d.upper()!r}", "HEADER")
        return cls(category=d[0:2], version=d[2:4], terminal_status=d[4], processing=d[5], reserved=d[6:12])


@dataclass(frozen=True)
class Frame:
    tpdu: Tpdu
    header: Header
    body: bytes  # MTI ‖ BITMAP ‖ fields


def encode_frame(frame: Frame) -> bytes:
    rest = frame.tpdu.encode() + frame.header.encode() + frame.body
    if len(rest) > MAX_LEN:
        raise BadLength(f"{len(rest)} bytes do not fit LEN", "LEN")
    return len(rest).to_bytes(LEN_SIZE, "big") + rest


def frame_length(prefix: bytes) -> int:
    """The byte count LEN announces (for a stream reader: read 2, then this
    many); BadLength when it cannot hold TPDU, header, MTI and bitmap."""
    if len(prefix) != LEN_SIZE:
        raise Truncated(f"LEN is {LEN_SIZE} bytes, got {len(prefix)}", "LEN")
    count = int.from_bytes(prefix, "big")
    if count < TPDU_SIZE + HEADER_SIZE + MIN_BODY:
        raise BadLength(f"LEN {count} is shorter than TPDU, header, MTI and bitmap", "LEN")
    return count


def decode_frame(data: bytes) -> Frame:
    """One whole frame, LEN included, and nothing after it."""
    count = frame_length(data[:LEN_SIZE])
    rest = data[LEN_SIZE:]
    if len(rest) < count:
        raise Truncated(f"LEN says {count} bytes, {len(rest)} came", "LEN")
    if len(rest) > count:
        raise BadLength(f"LEN says {count} bytes, {len(rest)} came", "LEN")
    head = TPDU_SIZE + HEADER_SIZE
    return Frame(Tpdu.decode(rest[:TPDU_SIZE]), Header.decode(rest[TPDU_SIZE:head]), rest[head:])
