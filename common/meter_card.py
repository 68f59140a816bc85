"""The prepaid meter user card's layout (DESIGN §5 "Prepaid meter user card";
docs/meters.md): the purchase file EF 01 the vending host signs and the kiosk
writes, the return file EF 02 the meter writes, and the vending rule.

Pure codecs: no keys here. The MACs are the key holders' (common/meter_keys.py:
the vending host, the virtual card and the simulated meter); the kiosk reads
and writes these images without being able to make or check one.

Quantities are unsigned big-endian in 0.01 kWh or 0.01 m³; counts are 2 bytes
and wrap 65535 -> 0; a file all `00` is blank (count 0, nothing applied)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum, IntFlag

DF_NAME = b"ESTATE.METER"
SFI_PURCHASE, SFI_RETURN = 0x01, 0x02
PURCHASE_LEN, RETURN_LEN = 20, 24
PURCHASE_BODY_LEN, RETURN_BODY_LEN = 16, 17     # the bytes each MAC covers
MAC_LEN = 4
CHALLENGE_LEN = 4
# The secure write's header: CLA 04 (secure messaging), UPDATE BINARY of SFI 01,
# Lc 0x18 = the 20-byte image ‖ its 4-byte MAC. The write MAC covers it too.
SECURE_WRITE_HEADER = bytes([0x04, 0xD6, 0x80 | SFI_PURCHASE, 0x00, PURCHASE_LEN + MAC_LEN])

COUNT_MODULO = 0x1_0000
MAX_QUANTITY = 0xFF_FFFF          # 3 bytes
MAX_TOTAL = 0xFFFF_FFFF           # 4 bytes
MAX_UNITS = 0xFFFF_FFFF           # remaining and cumulative use: 4 bytes


def units_text(hundredths: int) -> str:
    """A quantity in 0.01 kWh or m³ as people read it: 12345 -> "123.45" (integers
    throughout, like Money: a quantity is never a float)."""
    whole, frac = divmod(hundredths, 100)
    return f"{whole}.{frac:02d}"


class MeterCardError(ValueError):
    """An image that does not follow the layout (wrong length, not BCD, a value
    out of range). The kiosk turns it into a card fault."""


class Utility(IntEnum):
    ELECTRICITY = 0x01
    WATER = 0x02
    GAS = 0x03

    @classmethod
    def named(cls, name: str) -> Utility:
        """`electricity`, `water` or `gas` (the CLI's and config's spelling)."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise MeterCardError(f"utility must be electricity, water or gas, not {name!r}") from None


class MeterStatus(IntFlag):
    """EF 02's status byte."""
    NONE = 0
    SUPPLY_CUT = 0x01        # valve shut or relay open
    LOW_CREDIT = 0x02
    TAMPER = 0x04
    PULLED_EARLY = 0x08      # the card left the meter before it finished


def next_count(count: int) -> int:
    """The purchase count after `count`: 65535 is followed by 0."""
    return (count + 1) % COUNT_MODULO


def check_meter_number(number: str) -> str:
    """Twelve decimal digits (6 BCD bytes)."""
    if not isinstance(number, str) or len(number) != 12 or not number.isascii() or not number.isdigit():
        raise MeterCardError("a meter number is 12 digits")
    return number


def _uint(value: int, maximum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise MeterCardError(f"{what} must be a whole number 0..{maximum}")
    return value


def _bcd(raw: bytes, what: str) -> str:
    digits = raw.hex()
    if not digits.isdigit():
        raise MeterCardError(f"{what} is not BCD")
    return digits


def _mac(mac: bytes) -> bytes:
    if not isinstance(mac, (bytes, bytearray)) or len(mac) != MAC_LEN:
        raise MeterCardError("a MAC is 4 bytes")
    return bytes(mac)


@dataclass(frozen=True, slots=True)
class Purchase:
    """EF 01: meter number 6 BCD ‖ utility 1 ‖ purchase count 2 ‖ quantity 3 ‖
    total purchased 4 ‖ MAC(PK, the 16 bytes before) 4. A blank file decodes
    to meter "000000000000", utility None and everything 0."""
    meter: str
    utility: Utility | None
    count: int
    quantity: int
    total: int
    mac: bytes = bytes(MAC_LEN)

    def __post_init__(self) -> None:
        check_meter_number(self.meter)
        if self.utility is not None:
            object.__setattr__(self, "utility", Utility(self.utility))
        _uint(self.count, COUNT_MODULO - 1, "purchase count")
        _uint(self.quantity, MAX_QUANTITY, "quantity")
        _uint(self.total, MAX_TOTAL, "total purchased")
        _mac(self.mac)

    @property
    def blank(self) -> bool:
        return self.encode() == bytes(PURCHASE_LEN)

    def body(self) -> bytes:
        """The 16 bytes the PK MAC covers."""
        utility = 0 if self.utility is None else int(self.utility)
        return (bytes.fromhex(self.meter) + bytes([utility]) + self.count.to_bytes(2, "big")
                + self.quantity.to_bytes(3, "big") + self.total.to_bytes(4, "big"))

    def encode(self) -> bytes:
        return self.body() + self.mac

    @classmethod
    def decode(cls, raw: bytes) -> Purchase:
        if len(raw) != PURCHASE_LEN:
            raise MeterCardError(f"EF 01 is {PURCHASE_LEN} bytes, not {len(raw)}")
        if raw == bytes(PURCHASE_LEN):
            return cls.blank_file()
        try:
            utility = Utility(raw[6])
        except ValueError:
            raise MeterCardError(f"EF 01: unknown utility {raw[6]:02X}") from None
        return cls(meter=_bcd(raw[0:6], "EF 01 meter number"), utility=utility,
                   count=int.from_bytes(raw[7:9], "big"), quantity=int.from_bytes(raw[9:12], "big"),
                   total=int.from_bytes(raw[12:16], "big"), mac=bytes(raw[16:20]))

    @classmethod
    def blank_file(cls) -> Purchase:
        return cls(meter="000000000000", utility=None, count=0, quantity=0, total=0)


@dataclass(frozen=True, slots=True)
class MeterReturn:
    """EF 02: remaining 4 ‖ cumulative use 4 ‖ last count applied 2 ‖ status 1 ‖
    time 6 BCD YYMMDDhhmmss ‖ MAC(RK, the 17 bytes before) 4 ‖ 00 00 00.
    A blank file decodes with `time` None and everything 0."""
    remaining: int
    cumulative: int
    last_count: int
    status: MeterStatus
    time: datetime | None
    mac: bytes = bytes(MAC_LEN)

    def __post_init__(self) -> None:
        _uint(self.remaining, MAX_UNITS, "remaining")
        _uint(self.cumulative, MAX_UNITS, "cumulative use")
        _uint(self.last_count, COUNT_MODULO - 1, "last count applied")
        object.__setattr__(self, "status", MeterStatus(_uint(int(self.status), 0xFF, "status")))
        if self.time is not None and not 2000 <= self.time.year <= 2099:
            raise MeterCardError("EF 02's time holds years 2000..2099")
        _mac(self.mac)

    @property
    def blank(self) -> bool:
        return self.encode() == bytes(RETURN_LEN)

    def body(self) -> bytes:
        """The 17 bytes the RK MAC covers."""
        when = bytes(6) if self.time is None else bytes.fromhex(f"{self.time:%y%m%d%H%M%S}")
        return (self.remaining.to_bytes(4, "big") + self.cumulative.to_bytes(4, "big")
                + self.last_count.to_bytes(2, "big") + bytes([int(self.status)]) + when)

    def encode(self) -> bytes:
        return self.body() + self.mac + bytes(3)

    @classmethod
    def decode(cls, raw: bytes) -> MeterReturn:
        if len(raw) != RETURN_LEN:
            raise MeterCardError(f"EF 02 is {RETURN_LEN} bytes, not {len(raw)}")
        if raw == bytes(RETURN_LEN):
            return cls.blank_file()
        digits = _bcd(raw[11:17], "EF 02 time")
        try:
            when = datetime.strptime("20" + digits, "%Y%m%d%H%M%S")
        except ValueError:
            raise MeterCardError(f"EF 02: {digits} is not a time") from None
        return cls(remaining=int.from_bytes(raw[0:4], "big"), cumulative=int.from_bytes(raw[4:8], "big"),
                   last_count=int.from_bytes(raw[8:10], "big"), status=MeterStatus(raw[10]), time=when,
                   mac=bytes(raw[17:21]))

    @classmethod
    def blank_file(cls) -> MeterReturn:
        return cls(remaining=0, cumulative=0, last_count=0, status=MeterStatus.NONE, time=None)


# --- the vending rule (DESIGN §5, CARDS-examples (f)) -----------------------------
class Refusal(Enum):
    """Why a sale is refused; the value is what the resident is to be told."""
    NOT_APPLIED = "last purchase not yet applied by the meter"
    OVER_HOARDING_LIMIT = "over the hoarding limit"
    BAD_QUANTITY = "the quantity must be 0.01..167772.15 units"
    TOTAL_FULL = "the card's total purchased would overflow"


@dataclass(frozen=True, slots=True)
class SaleVerdict:
    refusal: Refusal | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    def __bool__(self) -> bool:
        return self.allowed


def can_sell(ef01: Purchase, ef02: MeterReturn, quantity: int, hoarding_max: int) -> SaleVerdict:
    """May `quantity` (0.01 units) be sold onto this card? Only when the meter has
    applied the card's last purchase (EF 02's last count = EF 01's count; a blank
    card passes, 0 = 0) and the meter stays within its hoarding limit
    (remaining + quantity <= `hoarding_max`, the host's figure for this meter)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        return SaleVerdict(Refusal.BAD_QUANTITY)
    if ef02.last_count != ef01.count:
        return SaleVerdict(Refusal.NOT_APPLIED)
    if ef02.remaining + quantity > hoarding_max:
        return SaleVerdict(Refusal.OVER_HOARDING_LIMIT)
    if ef01.total + quantity > MAX_TOTAL:
        return SaleVerdict(Refusal.TOTAL_FULL)
    return SaleVerdict()


def next_purchase(ef01: Purchase, meter: str, utility: Utility, quantity: int) -> Purchase:
    """The unsigned EF 01 image of the next sale (count + 1, total + quantity);
    the vending host signs it (common/meter_keys.sign_purchase). A blank card's
    first purchase is count 1 and its total the quantity."""
    return Purchase(meter=meter, utility=utility, count=next_count(ef01.count),
                    quantity=quantity, total=ef01.total + quantity)
