"""Keys of the bank link (BANK-8583.md §3): 3DES-ECB with double-length keys,
4-byte check values, and field 62 of the sign-on reply, which carries the
working keys (PIK, MAK, TDK) under the terminal master key.

pycryptodome refuses a 3DES key whose halves are equal (K ‖ K, how a
single-length key travels); single DES under K gives the same result, so
`ecb_encrypt`/`ecb_decrypt` take that path for such a key.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from Crypto.Cipher import DES

from common import crypto
from common.bank8583.errors import BadFieldValue, KeyCheckFailed

KEY_SIZE: Final = 16
CHECK_SIZE: Final = 4
FIELD62_SIZE: Final = 3 * (KEY_SIZE + CHECK_SIZE)


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise BadFieldValue(f"a key is {KEY_SIZE} bytes (double length), not {len(key)}")


def ecb_encrypt(key: bytes, data: bytes) -> bytes:
    _check_key(key)
    if key[:8] == key[8:]:
        return bytes(DES.new(key[:8], DES.MODE_ECB).encrypt(data))
    return crypto.tdes_encrypt(key, data)


def ecb_decrypt(key: bytes, data: bytes) -> bytes:
    _check_key(key)
    if key[:8] == key[8:]:
        return bytes(DES.new(key[:8], DES.MODE_ECB).decrypt(data))
    return crypto.tdes_decrypt(key, data)


def check_value(key: bytes) -> bytes:
    """CV(k): the first 4 bytes of 3DES-ECB(k, 8 × 00)."""
    return ecb_encrypt(key, bytes(8))[:CHECK_SIZE]


@dataclass(frozen=True)
class WorkingKeys:
    pik: bytes  # PIN blocks (the PIN pad's)
    mak: bytes  # field 64
    tdk: bytes  # track 2

    def __post_init__(self) -> None:
        for key in (self.pik, self.mak, self.tdk):
            _check_key(key)


def encode_field62(tmk: bytes, keys: WorkingKeys) -> bytes:
    """E(PIK) ‖ CV(PIK) ‖ E(MAK) ‖ CV(MAK) ‖ E(TDK) ‖ CV(TDK), 60 bytes."""
    return b"".join(ecb_encrypt(tmk, k) + check_value(k) for k in (keys.pik, keys.mak, keys.tdk))


def decode_field62(tmk: bytes, data: bytes) -> WorkingKeys:
    """The working keys of a sign-on reply; KeyCheckFailed when any check value
    does not match (the caller keeps its old keys)."""
    if len(data) != FIELD62_SIZE:
        raise BadFieldValue(f"field 62 of a sign-on is {FIELD62_SIZE} bytes, not {len(data)}", "62")
    found: list[bytes] = []
    for name, at in (("PIK", 0), ("MAK", 20), ("TDK", 40)):
        key = ecb_decrypt(tmk, data[at:at + KEY_SIZE])
        if check_value(key) != data[at + KEY_SIZE:at + KEY_SIZE + CHECK_SIZE]:
            raise KeyCheckFailed(f"the {name}'s check value does not match", "62")
        found.append(key)
    return WorkingKeys(*found)
