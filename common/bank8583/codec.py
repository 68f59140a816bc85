"""A `Message` (MTI and fields) to the bytes MTI ‖ BITMAP ‖ fields and back.

pyiso8583 packs and unpacks (bitmap, BCD, length prefixes); this module holds
the rules of BANK-8583.md §2 it does not know — zero-fill and space-pad of
fixed fields, digits only in `n` fields, an `F` pad nibble accepted — and turns
every failure into a `WireError`.

Values: `n` fields are digit strings, `z` (35) a string of hex digits with `D`
for the separator, `an`/`ans` text, `b` fields bytes. Field 64 is bytes too
(its 8 ASCII hex digits as sent).
"""
from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import iso8583

from common.bank8583.errors import (
    BadFieldValue, BadLength, FieldTooLong, Truncated, UnknownField, WireError,
)
from common.bank8583.spec import FIELDS, ISO_SPEC, FieldDef, Kind

FieldValue = str | bytes

_HEX = frozenset(string.hexdigits.upper())
_AN = frozenset(string.ascii_letters + string.digits + " ")
_ANS = frozenset(chr(c) for c in range(0x20, 0x7F))


@dataclass(frozen=True)
class Message:
    mti: str
    fields: Mapping[int, FieldValue] = field(default_factory=dict)

    def text(self, number: int) -> str:
        """A text or digit field's value; WireError when absent or bytes."""
        value = self.fields.get(number)
        if not isinstance(value, str):
            raise BadFieldValue("missing or not text", str(number))
        return value

    def data(self, number: int) -> bytes:
        """A `b` field's bytes; WireError when absent or text."""
        value = self.fields.get(number)
        if not isinstance(value, bytes):
            raise BadFieldValue("missing or not bytes", str(number))
        return value


def _check_mti(mti: str) -> None:
    if len(mti) != 4 or not mti.isascii() or not mti.isdigit():
        raise BadFieldValue(f"MTI must be 4 digits, not {mti!r}", "MTI")


def _check_text(f: FieldDef, value: str, where: str) -> None:
    allowed = _AN if f.kind is Kind.AN else _ANS if f.encoding == "ascii" else None
    if allowed is not None and not set(value) <= allowed:
        raise BadFieldValue(f"{f.kind.value} field holds {value!r}", where)


def _check_digits(f: FieldDef, value: str, where: str) -> None:
    allowed = _HEX if f.kind is Kind.Z else frozenset(string.digits)
    if not value.isascii() or not set(value) <= allowed:
        raise BadFieldValue(f"{f.kind.value} field holds non-digits {value!r}", where)


def _to_iso(f: FieldDef, value: FieldValue) -> str:
    """One field's value as pyiso8583 takes it, normalised and checked."""
    where = str(f.number)
    if f.numeric:
        if not isinstance(value, str):
            raise BadFieldValue("a numeric field takes a digit string", where)
        value = value.upper()
        _check_digits(f, value, where)
        if f.fixed and f.number != 22:  # right-aligned, zero-filled (22 is left-aligned)
            value = value.rjust(f.length, "0")
        size = len(value)
    elif f.kind is Kind.B:
        if not isinstance(value, bytes):
            raise BadFieldValue("a b field takes bytes", where)
        if f.fixed and len(value) < f.length:
            raise BadFieldValue(f"{len(value)} bytes, the field is {f.length}", where)
        size, value = len(value), value.hex().upper()
    else:
        if not isinstance(value, str):
            raise BadFieldValue("a text field takes a str", where)
        _check_text(f, value, where)
        try:
            size = len(value.encode(f.encoding))
        except UnicodeEncodeError:
            raise BadFieldValue(f"not {f.encoding} text", where) from None
        if f.fixed:  # right-padded with spaces
            value += " " * (f.length - size)
    if size > f.length:
        raise FieldTooLong(f"{size} {'digits' if f.numeric else 'bytes'}, at most {f.length}", where)
    if f.fixed and f.numeric and size != f.length:
        raise BadFieldValue(f"{size} digits, the field is {f.length}", where)
    return value


def pack(message: Message) -> bytes:
    """MTI ‖ BITMAP ‖ fields, in field order."""
    _check_mti(message.mti)
    doc: dict[str, str] = {"t": message.mti}
    for number, value in message.fields.items():
        f = FIELDS.get(number)
        if f is None:
            raise UnknownField("not in the field table", str(number))
        doc[str(number)] = _to_iso(f, value)
    try:
        raw, _ = iso8583.encode(doc, ISO_SPEC)
    except iso8583.EncodeError as exc:  # checked above; kept typed all the same
        raise WireError(exc.msg, exc.field) from None
    return bytes(raw)


def _where(key: str) -> str:
    return {"t": "MTI", "p": "bitmap", "1": "bitmap"}.get(key, key)


def _is_pad_error(exc: iso8583.DecodeError) -> bool:
    # pyiso8583 fills a field's decoded value before it checks the pad nibble of
    # an odd digit count; a field cut short has no decoded value yet.
    return exc.msg.startswith("Field data is") and bool(exc.doc_dec.get(exc.field))


def _wire_error(exc: iso8583.DecodeError) -> WireError:
    where, msg = _where(exc.field), exc.msg
    if msg.startswith("Field length is"):
        return Truncated("the length prefix is cut short", where)
    if msg.startswith("Failed to decode field length"):
        return BadLength("the length prefix is not BCD", where)
    if "larger than maximum" in msg:
        return FieldTooLong(msg, where)
    if msg.startswith("Extra data"):
        return BadLength("bytes left over after the last field", where)
    if _is_pad_error(exc):
        return BadFieldValue("the pad nibble is neither 0 nor F", where)
    if msg.startswith("Field data is"):
        return Truncated(msg, where)
    if msg.startswith("Failed to decode field"):
        return BadFieldValue(msg, where)
    return WireError(msg, where)


def _decode(data: bytes) -> dict[str, str]:
    spec: dict[str, Any] = ISO_SPEC
    while True:
        try:
            doc, _ = iso8583.decode(data, spec)
            return doc
        except KeyError as exc:  # pyiso8583 looks the bitmap's fields up in the spec
            raise UnknownField("the bitmap names a field the spec lacks", _where(str(exc.args[0]))) from None
        except iso8583.DecodeError as exc:
            pad_f = spec.get(exc.field, {}).get("right_pad") == "0"
            if not (_is_pad_error(exc) and pad_f):
                raise _wire_error(exc) from None
            # A receiver also accepts F as the pad of an odd digit count (§2).
            spec = {**spec, exc.field: {**spec[exc.field], "right_pad": "F"}}


def _from_iso(f: FieldDef, value: str) -> FieldValue:
    where = str(f.number)
    if f.numeric:
        _check_digits(f, value, where)
        return value
    if f.kind is Kind.B:
        return bytes.fromhex(value)
    _check_text(f, value, where)
    return value


def unpack(data: bytes) -> Message:
    """The message in `data` (MTI onwards, nothing after its last field)."""
    doc = _decode(data)
    _check_mti(doc["t"])
    fields = {int(k): _from_iso(FIELDS[int(k)], v) for k, v in doc.items() if k.isdigit()}
    return Message(doc["t"], dict(sorted(fields.items())))
