"""Track 2 in field 35, encrypted under the TDK (BANK-8583.md §3).

The track's digits (separator `=` as `D`) are packed as field 35 packs them:
N bytes, a trailing 0 nibble when the digit count L is odd. The 8 bytes that
end with the second-to-last byte (bytes N−9 … N−2) are replaced by their
3DES-ECB encryption; L does not change. A track shorter than 17 digits goes in
clear (field 53 digit 3 = 0). Values here are field 35's digit strings, as
`codec.Message` holds them.
"""
from __future__ import annotations

from typing import Final

from common.bank8583.errors import BadFieldValue
from common.bank8583.keys import ecb_decrypt, ecb_encrypt

MIN_ENCRYPTED: Final = 17
SEPARATOR: Final = "D"


def _crypt(key: bytes, digits: str, encrypt: bool) -> str:
    packed = bytearray.fromhex(digits + "0" * (len(digits) % 2))
    n = len(packed)
    block = bytes(packed[n - 9:n - 1])
    packed[n - 9:n - 1] = ecb_encrypt(key, block) if encrypt else ecb_decrypt(key, block)
    return packed.hex().upper()[:len(digits)]


def seal_track2(tdk: bytes, track2: str) -> tuple[str, bool]:
    """Field 35's value for a track 2 (`digits=digits`), and whether it is
    encrypted (field 53 digit 3)."""
    if track2.count("=") != 1 or not track2.replace("=", "").isdigit() or not track2.isascii():
        raise BadFieldValue("track 2 is digits and one '='", "35")
    digits = track2.replace("=", SEPARATOR)
    if len(digits) < MIN_ENCRYPTED:
        return digits, False
    return _crypt(tdk, digits, encrypt=True), True


def open_track2(tdk: bytes, field35: str, encrypted: bool) -> str:
    """The track 2 (`digits=digits`) of field 35; decrypted first when 53 says
    so, and only then searched for the separator."""
    digits = field35.upper()
    if encrypted:
        if len(digits) < MIN_ENCRYPTED:
            raise BadFieldValue(f"an encrypted track has at least {MIN_ENCRYPTED} digits", "35")
        digits = _crypt(tdk, digits, encrypt=False)
    if digits.count(SEPARATOR) != 1 or not digits.replace(SEPARATOR, "").isdigit():
        raise BadFieldValue("field 35 is not a track 2 (wrong TDK?)", "35")
    return digits.replace(SEPARATOR, "=")
