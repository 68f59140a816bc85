"""The virtual CPU card's data (docs/cards.md §2): its file and key constants,
status words, PIN encoding, the state it saves (purses, proofs, log records),
a pending INITIALIZE and the parsed APDU. kiosk/devices/sim/cpu_card.py is the
card that answers commands with them."""
from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from common.epurse import TxnType, u16, u32, Wallet


DF_NAME = b"ESTATE.EPURSE"
FID = bytes.fromhex("3F01")
# Answer to reset of a T=1-only contact card: TS 3B, T0 8C (TD1 follows, 12
# historical bytes), TD1 01 (T=1, nothing more), the historical bytes, TCK.
# TCK is the XOR of T0..the last historical byte.
_ATR_BODY = bytes([0x8C, 0x01]) + b"ESTATE-PURSE"
ATR = b"\x3B" + _ATR_BODY + bytes([functools.reduce(operator.xor, _ATR_BODY)])

ISSUER_ID = bytes.fromhex("0000260100000000")
KEY_INDEX = 1            # the only key index the card holds (others: 9403)
KEY_VERSION = 0x01
ALG_ID = 0x00            # 3DES session keys, single-DES MACs
PIN_TRIES = 3
LOG_RECORDS = 10
PROOFS_KEPT = 10
LOG_RECORD_LEN = 23

# Status words
SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY = b"\x69\x82"           # PIN not verified
SW_PIN_BLOCKED = b"\x69\x83"
SW_CONDITIONS = b"\x69\x85"         # credit / debit / unload without its initialize
SW_BAD_DATA = b"\x6A\x80"
SW_FILE_NOT_FOUND = b"\x6A\x82"
SW_RECORD_NOT_FOUND = b"\x6A\x83"
SW_WRONG_P1P2 = b"\x6A\x86"
SW_UNKNOWN_INS = b"\x6D\x00"
SW_UNKNOWN_CLA = b"\x6E\x00"
SW_MAC_INVALID = b"\x93\x02"
SW_INSUFFICIENT = b"\x94\x01"
SW_PURSE_MAXIMUM = b"\x94\x02"
SW_KEY_NOT_FOUND = b"\x94\x03"
SW_PROOF_UNAVAILABLE = b"\x94\x06"

FaultVerdict = Literal["before", "after"] | None
FaultHook = Callable[[bytes], FaultVerdict]


class CardPulled(Exception):
    """The fault hook pulled the card: before the command (nothing applied) or
    after it was applied and saved (the answer never leaves)."""

    def __init__(self, applied: bool) -> None:
        super().__init__("card pulled after the command was applied" if applied
                         else "card pulled before the command")
        self.applied = applied


class StatusWord(Exception):
    def __init__(self, sw: bytes) -> None:
        super().__init__(sw.hex())
        self.sw = sw


# --- PIN encoding -------------------------------------------------------------
def encode_pin(pin: str) -> bytes:
    """BCD, padded with F to whole bytes (docs/cards.md §2)."""
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError("a card PIN is 4 to 12 digits")
    return bytes.fromhex(pin + "F" * (len(pin) % 2))


def decode_pin(field_: bytes) -> str:
    digits = field_.hex().upper().removesuffix("F")
    if not (digits.isdigit() and 4 <= len(digits) <= 12):
        raise StatusWord(SW_BAD_DATA)
    return digits


# --- state --------------------------------------------------------------------
@dataclass
class PurseState:
    balance: int
    maximum: int
    online_counter: int = 0
    offline_counter: int = 0


@dataclass
class Proof:
    txn_type: int
    counter: int
    mac2: str      # hex
    tac: str       # hex: the TAC, or MAC3 for an unload


@dataclass(frozen=True)
class LogRecord:
    counter: int
    overdraft: int
    amount: int
    txn_type: int
    term_id: bytes
    when: bytes    # 7 BCD bytes

    def encode(self) -> bytes:
        return (u16(self.counter) + self.overdraft.to_bytes(3, "big") + u32(self.amount)
                + bytes([self.txn_type]) + self.term_id + self.when)

    @classmethod
    def decode(cls, raw: bytes) -> LogRecord:
        return cls(int.from_bytes(raw[0:2], "big"), int.from_bytes(raw[2:5], "big"),
                   int.from_bytes(raw[5:9], "big"), raw[9], raw[10:16], raw[16:23])


@dataclass
class CardState:
    serial: str                     # 20 hex digits, upper case
    holder: str
    name: str
    pin: str
    pin_tries_left: int
    ed: PurseState
    ep: PurseState
    keys: dict[str, str]            # the card's diversified keys, hex
    issuer_id: str = ISSUER_ID.hex().upper()
    start_date: str = ""            # YYYYMMDD
    expiry_date: str = ""
    log: list[str] = field(default_factory=list)        # encoded records, most recent first
    proofs: list[Proof] = field(default_factory=list)   # most recent first

    def to_json(self) -> dict[str, Any]:
        return {"format": 1, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CardState:
        data = dict(data)
        data.pop("format", None)
        data["ed"], data["ep"] = PurseState(**data["ed"]), PurseState(**data["ep"])
        data["proofs"] = [Proof(**p) for p in data.get("proofs", [])]
        return cls(**data)

    def purse(self, wallet: Wallet) -> PurseState:
        return self.ed if wallet == Wallet.ED else self.ep


@dataclass
class Pending:
    """An INITIALIZE waiting for its CREDIT / DEBIT / UNLOAD (session only)."""
    kind: Literal["load", "purchase", "unload"]
    wallet: Wallet
    txn_type: TxnType
    amount: int
    term_id: bytes
    counter: int
    random: bytes
    session_key: bytes = b""        # load / unload: known at initialize


@dataclass(frozen=True)
class Apdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None

    @classmethod
    def parse(cls, raw: bytes) -> Apdu:
        """Short APDUs, cases 1-4; an inconsistent length is 6700."""
        if len(raw) < 4:
            raise StatusWord(SW_WRONG_LENGTH)
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2, b"", None)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, b"", body[0] or 256)
        lc = body[0]
        if lc == 0:         # extended length: not supported
            raise StatusWord(SW_WRONG_LENGTH)
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, body[1:], None)
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, body[1:-1], body[-1] or 256)
        raise StatusWord(SW_WRONG_LENGTH)

    def expect(self, lc: int | range, le: int | None = None) -> None:
        """Check Lc, and Le if given: absent, 00 (=256) or exactly `le` bytes."""
        ok_lc = len(self.data) in lc if isinstance(lc, range) else len(self.data) == lc
        ok_le = self.le is None or self.le == 256 or (le is not None and self.le == le)
        if not ok_lc or (le is None and self.le is not None) or not ok_le:
            raise StatusWord(SW_WRONG_LENGTH)


