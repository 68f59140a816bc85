"""The composite fields of BANK-8583.md §2 and §4, as values and digit strings:
4 (amount), 48 (settlement totals), 53 (security control), 54 (balance),
60 (type, batch, network code) and 61 (the original message)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from common.bank8583.errors import BadFieldValue, FieldTooLong
from common.money import Money

# 60.1 message type codes and 60.3 network management codes
TYPE_MANAGEMENT: Final = "00"
TYPE_BALANCE: Final = "01"
TYPE_PURCHASE: Final = "22"
TYPE_PIN_CHANGE: Final = "70"
NET_FINANCIAL: Final = "000"
NET_SIGN_ON: Final = "004"
NET_SIGN_OFF: Final = "002"
NET_SETTLEMENT: Final = "201"
NET_END_OF_UPLOAD: Final = "202"
NET_ECHO: Final = "301"


def _digits(value: str, size: int, field: str) -> str:
    if not value.isascii() or not value.isdigit():
        raise BadFieldValue(f"{value!r} is not digits", field)
    if len(value) > size:
        raise FieldTooLong(f"{value!r} is longer than {size} digits", field)
    return value.rjust(size, "0")


def _count(value: int, size: int, field: str) -> str:
    if value < 0:
        raise BadFieldValue(f"{value} is negative", field)
    return _digits(str(value), size, field)


def amount(money: Money) -> str:
    """Field 4: the amount in fen, n12."""
    return _count(money.fen, 12, "4")


@dataclass(frozen=True)
class Field60:
    type_code: str   # 60.1
    batch: str       # 60.2, n6
    network: str     # 60.3

    def encode(self) -> str:
        """The 11 digits sent (LLL 0011)."""
        return _digits(self.type_code, 2, "60") + _digits(self.batch, 6, "60") + _digits(self.network, 3, "60")

    @classmethod
    def parse(cls, value: str) -> Field60:
        """The first 11 digits; more are ignored."""
        if len(value) < 11 or not value[:11].isdigit():
            raise BadFieldValue(f"60 needs 11 digits, got {value!r}", "60")
        return cls(value[0:2], value[2:8], value[8:11])


@dataclass(frozen=True)
class Field61:
    """The original message of a reversal or batch upload."""

    batch: str   # n6
    stan: str    # n6
    date: str    # MMDD, the kiosk's local date when it sent the original

    def encode(self) -> str:
        return _digits(self.batch, 6, "61") + _digits(self.stan, 6, "61") + _digits(self.date, 4, "61")

    @classmethod
    def parse(cls, value: str) -> Field61:
        if len(value) < 16 or not value[:16].isdigit():
            raise BadFieldValue(f"61 needs 16 digits, got {value!r}", "61")
        return cls(value[0:6], value[6:12], value[12:16])


SETTLE_UNSENT: Final = "0"     # digit 31 of a 0500's 48
SETTLE_BALANCED: Final = "1"   # ... of the 0510's echo: totals agree
SETTLE_UNBALANCED: Final = "2"


@dataclass(frozen=True)
class Totals:
    """Field 48 of 0500/0510: own cards' debits and credits, and the code (digit
    31). The foreign-card half (digits 32–62) is sent as zeros and not read."""

    debit: Money
    debit_count: int
    credit: Money = Money(0)
    credit_count: int = 0
    code: str = SETTLE_UNSENT

    def encode(self) -> str:
        own = (_count(self.debit.fen, 12, "48") + _count(self.debit_count, 3, "48")
               + _count(self.credit.fen, 12, "48") + _count(self.credit_count, 3, "48")
               + _digits(self.code, 1, "48"))
        return own + "0" * 31

    @classmethod
    def parse(cls, value: str) -> Totals:
        if len(value) < 31 or not value[:31].isdigit():
            raise BadFieldValue(f"48 needs 31 digits, got {value!r}", "48")
        return cls(Money(int(value[0:12])), int(value[12:15]), Money(int(value[15:27])),
                   int(value[27:30]), value[30])

    @property
    def balanced(self) -> bool:
        return self.code == SETTLE_BALANCED


def upload_count(count: int) -> str:
    """48 of the end of batch upload: the count of 0320s sent, n4."""
    return _count(count, 4, "48")


def security_control(track_encrypted: bool) -> str:
    """53: PIN block format 0 with the PAN (2), double-length keys (6), track
    data encrypted (1) or not (0)."""
    return "26" + ("1" if track_encrypted else "0") + "0" * 13


def track_encrypted(field53: str) -> bool:
    if len(field53) != 16 or field53[:2] != "26" or field53[2] not in "01":
        raise BadFieldValue(f"53 is not a security control we speak: {field53!r}", "53")
    return field53[2] == "1"


def balance(available: Money) -> str:
    """54: account type 10, amount type 02 (available), currency 156, C or D,
    12 digits of fen."""
    sign = "D" if available.fen < 0 else "C"
    return "1002156" + sign + _count(abs(available.fen), 12, "54")


def parse_balance(field54: str) -> Money:
    if len(field54) != 20 or field54[:7] != "1002156" or field54[7] not in "CD" or not field54[8:].isdigit():
        raise BadFieldValue(f"54 is not an available balance in CNY: {field54!r}", "54")
    fen = int(field54[8:])
    return Money(-fen if field54[7] == "D" else fen)
