"""The field table of BANK-8583.md §2, and the pyiso8583 spec derived from it.

One table (`FIELDS`) says each field's kind, length and length prefix; the
pyiso8583 spec (`ISO_SPEC`) is made from it, so the codec and the checks in
`codec.py` can never disagree. pyiso8583 does the bitmap, the BCD packing and
the length prefixes; LEN, TPDU and HEADER are `framing.py`'s.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Final


class Kind(Enum):
    N = "n"      # digits, BCD, two a byte
    Z = "z"      # track data: digits, `D` for the separator, hex left by encryption
    AN = "an"    # ASCII letters and digits
    ANS = "ans"  # ASCII printable (field 63: GB18030 text)
    B = "b"      # raw bytes


class Prefix(Enum):
    FIXED = 0
    LL = 1    # 1 BCD byte, 00–99
    LLL = 2   # 2 BCD bytes, 0000–0999


@dataclass(frozen=True)
class FieldDef:
    number: int
    name: str
    kind: Kind
    length: int            # digits for n/z, bytes otherwise; the maximum when variable
    prefix: Prefix = Prefix.FIXED
    encoding: str = "ascii"  # an/ans text encoding on the wire

    @property
    def numeric(self) -> bool:
        return self.kind in (Kind.N, Kind.Z)

    @property
    def fixed(self) -> bool:
        return self.prefix is Prefix.FIXED


_N, _Z, _AN, _ANS, _B = Kind.N, Kind.Z, Kind.AN, Kind.ANS, Kind.B
_LL, _LLL = Prefix.LL, Prefix.LLL

FIELDS: Final[dict[int, FieldDef]] = {f.number: f for f in (
    FieldDef(2, "primary account number", _N, 19, _LL),
    FieldDef(3, "processing code", _N, 6),
    FieldDef(4, "amount, in fen", _N, 12),
    FieldDef(11, "system trace audit number", _N, 6),
    FieldDef(12, "local time hhmmss", _N, 6),
    FieldDef(13, "local date MMDD", _N, 4),
    FieldDef(14, "expiry YYMM", _N, 4),
    FieldDef(15, "settlement date MMDD", _N, 4),
    FieldDef(22, "POS entry mode", _N, 3),   # left-aligned in 2 bytes: 021 -> 02 10
    FieldDef(25, "POS condition code", _N, 2),
    FieldDef(26, "PIN capture code", _N, 2),
    FieldDef(32, "acquiring institution id", _N, 11, _LL),
    FieldDef(35, "track 2", _Z, 37, _LL),
    FieldDef(37, "retrieval reference number", _AN, 12),
    FieldDef(38, "authorisation code", _AN, 6),
    FieldDef(39, "response code", _AN, 2),
    FieldDef(41, "terminal id", _ANS, 8),
    FieldDef(42, "merchant id", _ANS, 15),
    FieldDef(48, "additional data (settlement totals)", _N, 322, _LLL),
    FieldDef(49, "currency", _AN, 3),
    FieldDef(52, "PIN block", _B, 8),
    FieldDef(53, "security control", _N, 16),
    FieldDef(54, "balance", _AN, 20, _LLL),
    FieldDef(60, "reserved private (type, batch, network code)", _N, 17, _LLL),
    FieldDef(61, "original message", _N, 29, _LLL),
    FieldDef(62, "reserved private (keys, new PIN block)", _B, 512, _LLL),
    FieldDef(63, "reserved private (operator, bill reference)", _ANS, 163, _LLL, "gb18030"),
    FieldDef(64, "MAC (8 ASCII hex digits)", _B, 8),
)}

MAC_FIELD: Final = 64


def _iso_field(f: FieldDef) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "len_enc": "bcd",
        "len_type": f.prefix.value,
        "max_len": f.length,
        "desc": f.name,
    }
    if f.numeric:
        # Digits counted as nibbles; an odd count gets a trailing 0 nibble (the
        # decoder takes F too: codec.py retries a field with F).
        entry.update(data_enc="b", len_count="nibbles", right_pad="0")
    elif f.kind is Kind.B:
        entry.update(data_enc="b", len_count="bytes")
    else:
        entry.update(data_enc=f.encoding, len_count="bytes")
    return entry


def iso_spec(pad: str = "0") -> dict[str, dict[str, Any]]:
    """The pyiso8583 spec: no header (framing.py's), a 2-byte BCD MTI, an
    8-byte binary primary bitmap, no secondary bitmap (field "1" absent, so a
    bitmap with bit 1 set names a field the spec lacks)."""
    spec: dict[str, dict[str, Any]] = {
        "h": {"data_enc": "b", "len_enc": "bcd", "len_type": 0, "max_len": 0, "desc": "none"},
        "t": {"data_enc": "b", "len_enc": "bcd", "len_type": 0, "max_len": 2, "desc": "MTI"},
        "p": {"data_enc": "b", "len_enc": "bcd", "len_type": 0, "max_len": 8, "desc": "bitmap"},
    }
    for number, f in FIELDS.items():
        spec[str(number)] = _iso_field(f)
        if f.numeric and pad != "0":
            spec[str(number)]["right_pad"] = pad
    return spec


ISO_SPEC: Final = iso_spec()
