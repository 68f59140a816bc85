"""DES / 3DES building blocks for payments (pure; pycryptodome underneath).

- ISO 9564-1 format 0 PIN blocks (the PIN pad builds them; the host opens them)
- ANSI X9.19 / ISO 9797-1 MAC algorithm 3 (host messages)
- ISO 9797-1 MAC algorithm 1, padding method 2, 4 bytes (PBOC card MACs/TACs)
- key check values, and working keys wrapped under a terminal master key
"""
from __future__ import annotations

from functools import lru_cache
from typing import Protocol

from Crypto.Cipher import DES, DES3


class CryptoError(ValueError):
    pass


class _BlockCipher(Protocol):
    """What we use of a pycryptodome cipher object: one-shot encrypt/decrypt."""

    def encrypt(self, plaintext: bytes, /) -> bytes: ...

    def decrypt(self, ciphertext: bytes, /) -> bytes: ...


@lru_cache(maxsize=1024)
def _des3(key: bytes) -> _BlockCipher:
    # pycryptodome refuses keys whose halves are equal (degenerate 3DES); so do we.
    # Cached: setting up the key schedule costs several times one block's
    # encryption, and a link's MAK, TDK and PIK serve every message of a session
    # (ECB objects keep no state between calls, so one serves every thread).
    try:
        return DES3.new(key, DES3.MODE_ECB)
    except ValueError as exc:
        raise CryptoError(f"bad 3DES key: {exc}") from exc


def tdes_encrypt(key: bytes, data: bytes) -> bytes:
    return _des3(key).encrypt(data)


def tdes_decrypt(key: bytes, data: bytes) -> bytes:
    return _des3(key).decrypt(data)


def kcv(key: bytes) -> bytes:
    """Key check value: the first 3 bytes of the key encrypting 8 zero bytes."""
    return tdes_encrypt(key, bytes(8))[:3]


def wrap_key(master: bytes, key: bytes) -> bytes:
    return tdes_encrypt(master, key)


def unwrap_key(master: bytes, wrapped: bytes, check_value: bytes) -> bytes:
    """Decrypt a working key under the master key and verify its check value."""
    key = tdes_decrypt(master, wrapped)
    if kcv(key) != check_value:
        raise CryptoError("key check value mismatch")
    return key


# --- PIN blocks (ISO 9564-1 format 0) ---------------------------------------
def _pan_field(pan: str) -> bytes:
    digits = pan[:-1][-12:]  # 12 rightmost digits excluding the check digit
    if not pan.isdigit() or len(digits) != 12:
        raise CryptoError("PAN must be at least 13 digits")
    return bytes.fromhex("0000" + digits)


def pin_block_format0(pin: str, pan: str) -> bytes:
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise CryptoError("PIN must be 4 to 12 digits")
    pin_field = bytes.fromhex(f"0{len(pin):X}{pin}".ljust(16, "F"))
    return bytes(a ^ b for a, b in zip(pin_field, _pan_field(pan)))


def pin_from_block_format0(block: bytes, pan: str) -> str:
    field = bytes(a ^ b for a, b in zip(block, _pan_field(pan))).hex().upper()
    length = int(field[1], 16)
    if field[0] != "0" or not 4 <= length <= 12:
        raise CryptoError("not a format 0 PIN block")
    pin, filler = field[2:2 + length], field[2 + length:]
    if not pin.isdigit() or filler != "F" * len(filler):
        raise CryptoError("not a format 0 PIN block")
    return pin


# --- MACs -------------------------------------------------------------------
def _pad_method1(data: bytes) -> bytes:
    return data + bytes(-len(data) % 8) if data else bytes(8)


def _pad_method2(data: bytes) -> bytes:
    data += b"\x80"
    return data + bytes(-len(data) % 8)


def _cbc_mac(key8: bytes, padded: bytes) -> bytes:
    """Single-DES CBC with a zero IV; the MAC is the last cipher block."""
    return DES.new(key8, DES.MODE_CBC, iv=bytes(8)).encrypt(padded)[-8:]


def mac_x919(key: bytes, data: bytes) -> bytes:
    """ANSI X9.19 retail MAC (ISO 9797-1 algorithm 3, padding method 1), 8 bytes.
    Single-DES CBC under K1, then the last block decrypted under K2 and
    encrypted again under K1."""
    if len(key) != 16:
        raise CryptoError("X9.19 needs a double-length key")
    k1, k2 = key[:8], key[8:]
    state = _cbc_mac(k1, _pad_method1(data))
    state = DES.new(k2, DES.MODE_ECB).decrypt(state)
    return DES.new(k1, DES.MODE_ECB).encrypt(state)


def request_mac(key: bytes, path: str, body: bytes) -> bytes:
    """The X9.19 MAC of a signed kiosk request (X-MAC): over `POST <path>` and a
    newline, then the exact body bytes, so that a message signed for one
    endpoint is refused on any other (a heartbeat replayed to the card centre).
    Replies are MACed over their body alone: they answer one request."""
    return mac_x919(key, b"POST " + path.encode("ascii") + b"\n" + body)


def mac_pboc(key: bytes, data: bytes) -> bytes:
    """ISO 9797-1 algorithm 1, padding method 2, single DES, leftmost 4 bytes
    (DESIGN §5). A 16-byte key is folded to 8 bytes by XOR of its halves."""
    if len(key) == 16:
        key = bytes(a ^ b for a, b in zip(key[:8], key[8:]))
    if len(key) != 8:
        raise CryptoError("MAC key must be 8 or 16 bytes")
    return _cbc_mac(key, _pad_method2(data))[:4]


# --- PBOC e-purse keys (DESIGN §5) ------------------------------------------
def diversify(master: bytes, app_serial: bytes) -> bytes:
    """A card's own 16-byte key from an issuer master key, by the last 8 bytes F
    of its application serial number: 3DES(MK, F) ‖ 3DES(MK, ~F)."""
    if len(app_serial) < 8:
        raise CryptoError("application serial number must be at least 8 bytes")
    f = app_serial[-8:]
    return tdes_encrypt(master, f) + tdes_encrypt(master, bytes(b ^ 0xFF for b in f))


def load_session_key(card_key: bytes, random: bytes, online_counter: bytes) -> bytes:
    """Session key for load and unload: 3DES(DLK|DUK, random ‖ online counter ‖ 8000),
    8 bytes, used as a single-DES key by mac_pboc."""
    if len(random) != 4 or len(online_counter) != 2:
        raise CryptoError("random is 4 bytes and the counter 2")
    return tdes_encrypt(card_key, random + online_counter + b"\x80\x00")


def purchase_session_key(card_key: bytes, random: bytes, offline_counter: bytes, term_txn_no: bytes) -> bytes:
    """Session key for purchase: 3DES(DPK, random ‖ offline counter ‖ last 2 bytes
    of the terminal transaction number)."""
    if len(random) != 4 or len(offline_counter) != 2 or len(term_txn_no) != 4:
        raise CryptoError("random and term txn no are 4 bytes, the counter 2")
    return tdes_encrypt(card_key, random + offline_counter + term_txn_no[-2:])
