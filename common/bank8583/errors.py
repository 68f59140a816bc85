"""Everything malformed on the bank link raises a `WireError` subclass, never an
IndexError or a library's own exception: a caller maps one tree to its outcome
(the kiosk: "no reply", reversal reason 98; the front-end: drop the frame)."""
from __future__ import annotations


class WireError(ValueError):
    """A frame or field that does not follow BANK-8583.md. `field` names where
    (a field number, "MTI", "bitmap", "LEN", "TPDU", "HEADER"), or is empty."""

    def __init__(self, detail: str, field: str = "") -> None:
        super().__init__(f"{detail} (field {field})" if field else detail)
        self.detail = detail
        self.field = field


class Truncated(WireError):
    """Fewer bytes than the frame's LEN, a length prefix or a fixed field needs."""


class BadLength(WireError):
    """A length prefix that is not BCD, or a LEN that disagrees with the bytes
    (too short for a header, or bytes left over after the last field)."""


class UnknownField(WireError):
    """The bitmap names a field the field table lacks (bit 1 included: no
    secondary bitmap on this link), or a message to build carries one."""


class FieldTooLong(WireError):
    """A value longer than its field's format allows."""


class BadFieldValue(WireError):
    """A value of the wrong kind: non-digits in a numeric field, non-ASCII in an
    `an`/`ans` field, a `b` field given text, a bad pad nibble."""


class BadMac(WireError):
    """Field 64 missing where required, or not the MAC of the bytes received."""


class KeyCheckFailed(WireError):
    """A working key of field 62 whose check value does not match: the whole
    sign-on fails and the old keys stay."""
