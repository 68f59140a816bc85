"""How the card centre hands a kiosk the one-card's sector keys for one session
(docs/onecard.md "Key delivery"): never in clear on the wire.

Each delivery has its own data-encryption key (DEK, a fresh double-length 3DES
key), sent wrapped under the kiosk's TMK with its check value, like the PIN and
MAC working keys of the sign-on; the sector keys travel 3DES-CBC-encrypted
under the DEK (zero IV: the DEK is used once). The reply around it is MACed
under the session's MAK like every signed reply, so it cannot be altered.

Plaintext: one 16-byte record per sector, ascending: sector 1 ‖ which 1 (01
key A, 02 key B, 03 both) ‖ key A 6 ‖ key B 6 ‖ 00 00; a key not delivered is
six 00 bytes (a wrong key: the card answers 63 00 to it). Pure: no issuer key
here (those are common/onecard_keys.py)."""
from __future__ import annotations

from dataclasses import dataclass

from common.crypto import CryptoError, kcv, tdes_decrypt, tdes_encrypt, unwrap_key, wrap_key
from common.onecard import KEY_LEN, SECTORS, SectorKeys

KEY_A, KEY_B = 0x01, 0x02
_RECORD = 16
_NO_KEY = bytes(KEY_LEN)


@dataclass(frozen=True)
class Delivery:
    """What the wire carries, hex upper case."""
    key_under_tmk: str      # the DEK wrapped under the kiosk's TMK
    kcv: str                # the DEK's check value
    sectors: str            # the records, 3DES-CBC under the DEK

    def as_json(self) -> dict[str, str]:
        return {"key_under_tmk": self.key_under_tmk, "kcv": self.kcv, "sectors": self.sectors}


def _cbc(key: bytes, data: bytes, *, decrypt: bool) -> bytes:
    out, chain = bytearray(), bytes(8)
    for i in range(0, len(data), 8):
        block = data[i:i + 8]
        if decrypt:
            out += bytes(a ^ b for a, b in zip(tdes_decrypt(key, block), chain))
            chain = block
        else:
            chain = tdes_encrypt(key, bytes(a ^ b for a, b in zip(block, chain)))
            out += chain
    return bytes(out)


def seal(tmk: bytes, dek: bytes, keys: dict[int, tuple[bytes | None, bytes | None]]) -> Delivery:
    """`keys`: sector -> (key A or None, key B or None)."""
    plain = bytearray()
    for sector in sorted(keys):
        a, b = keys[sector]
        which = (KEY_A if a is not None else 0) | (KEY_B if b is not None else 0)
        if not 0 <= sector < SECTORS or not which:
            raise ValueError("a delivered sector is 0..15 with at least one key")
        plain += bytes([sector, which]) + (a or _NO_KEY) + (b or _NO_KEY) + bytes(2)
    return Delivery(wrap_key(tmk, dek).hex().upper(), kcv(dek).hex().upper(),
                    _cbc(dek, bytes(plain), decrypt=False).hex().upper())


def open_delivery(tmk: bytes, delivery: dict[str, object]) -> dict[int, SectorKeys]:
    """The sector keys of a delivery; CryptoError for anything malformed (a
    wrong check value, a bad length, a sector out of range)."""
    try:
        wrapped = bytes.fromhex(str(delivery["key_under_tmk"]))
        check = bytes.fromhex(str(delivery["kcv"]))
        sealed = bytes.fromhex(str(delivery["sectors"]))
    except (KeyError, ValueError) as exc:
        raise CryptoError(f"key delivery: {exc}") from None
    if len(wrapped) != 16 or not sealed or len(sealed) % _RECORD:
        raise CryptoError("key delivery: bad lengths")
    dek = unwrap_key(tmk, wrapped, check)
    plain = _cbc(dek, sealed, decrypt=True)
    found: dict[int, SectorKeys] = {}
    for i in range(0, len(plain), _RECORD):
        sector, which = plain[i], plain[i + 1]
        if sector >= SECTORS or not which or which > (KEY_A | KEY_B) or sector in found:
            raise CryptoError("key delivery: malformed record")
        found[sector] = SectorKeys(plain[i + 2:i + 8], plain[i + 8:i + 14])
    return found
