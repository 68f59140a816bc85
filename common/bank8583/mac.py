"""Field 64 (BANK-8583.md §3): the MAC of the MAB = MTI ‖ BITMAP ‖ fields 2–63
exactly as sent (bit 64 already set), under the MAK, as 8 ASCII hex digits.

- `ecb` (the default, China UnionPay's POS "ECB" MAC): pad the MAB with 00 to
  a multiple of 8, XOR its blocks into R, split R's 16 hex digits into A and B
  (ASCII), C = 3DES(MAK, A), D = C ⊕ B, E = 3DES(MAK, D); the first 8 hex
  digits of E.
- `x919` (configuration): ANSI X9.19 / ISO 9797-1 algorithm 3 over the same
  padded MAB; the first 4 bytes as 8 hex digits.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final, Literal

from common import crypto
from common.bank8583.errors import BadMac
from common.bank8583.keys import ecb_encrypt

MacAlgorithm = Literal["ecb", "x919"]
ALGORITHMS: Final[tuple[MacAlgorithm, ...]] = ("ecb", "x919")
MAC_SIZE: Final = 8


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def pad(mab: bytes) -> bytes:
    """00 bytes to a multiple of 8 (nothing when it already is)."""
    return mab + bytes(-len(mab) % 8)


@dataclass(frozen=True)
class EcbSteps:
    """The ECB MAC's intermediate values, as the worked examples list them."""

    r: bytes
    a: bytes
    b: bytes
    c: bytes
    d: bytes
    e: bytes

    @property
    def field64(self) -> bytes:
        return self.e.hex().upper()[:8].encode("ascii")


def ecb_steps(mak: bytes, mab: bytes) -> EcbSteps:
    padded = pad(mab)
    folded = 0
    for at in range(0, len(padded), 8):     # XOR the blocks as 64-bit integers: one step per block
        folded ^= int.from_bytes(padded[at:at + 8], "big")
    r = folded.to_bytes(8, "big")
    text = r.hex().upper().encode("ascii")
    a, b = text[:8], text[8:]
    c = ecb_encrypt(mak, a)
    d = _xor(c, b)
    return EcbSteps(r, a, b, c, d, ecb_encrypt(mak, d))


def compute(mak: bytes, mab: bytes, algorithm: MacAlgorithm = "ecb") -> bytes:
    """Field 64's 8 bytes (ASCII hex digits) for this MAB."""
    if algorithm == "ecb":
        return ecb_steps(mak, mab).field64
    if algorithm == "x919":
        return crypto.mac_x919(mak, pad(mab))[:4].hex().upper().encode("ascii")
    raise ValueError(f"unknown MAC algorithm {algorithm!r}")


def verify(mak: bytes, mab: bytes, received: bytes, algorithm: MacAlgorithm = "ecb") -> None:
    """BadMac unless `received` is the MAC of `mab`."""
    if not hmac.compare_digest(compute(mak, mab, algorithm), received):
        raise BadMac("field 64 is not the MAC of the message", "64")
