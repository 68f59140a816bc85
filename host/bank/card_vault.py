"""The reference bank's card data at rest (docs/payments.md "The reference
bank's accounts"): what bank_accounts keeps instead of a clear PAN and PIN.

- `pan_hash`: HMAC-SHA256 of the PAN under the PAN-lookup key, hex. Every
  look-up of an account by card number goes through it.
- `pan_enc`: the PAN under AES-128-GCM with the PAN-encryption key and a random
  96-bit nonce (hex of nonce || ciphertext || tag), for a bank's statements;
  nothing on the payment path decrypts it.
- `pin_offset`: the IBM 3624 PIN offset under the PIN verification key (PVK), as
  an issuer's HSM computes it. Without the PVK it says nothing about the PIN;
  with the PVK, a PIN is a small space and falls to an offline search: the key,
  not the table, is the secret (an HSM never lets it out).

The keys come from the host config's [bank] (host.config.BankKeys)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache
from typing import Any

from Crypto.Cipher import AES, DES3

from host.config import BankKeys

# The IBM 3624 default decimalisation table: hex digit i of the encrypted
# validation data becomes DECIMALISATION[i].
DECIMALISATION = "0123456789012345"
_NONCE = 12
_AAD = b"bank_accounts.pan_enc v1"


def pan_hash(keys: BankKeys, pan: str) -> str:
    """The account's look-up key: hex HMAC-SHA256(pan_hash_key, PAN)."""
    return hmac.new(keys.pan_hash_key, pan.encode("utf-8"), hashlib.sha256).hexdigest()


def encrypt_pan(keys: BankKeys, pan: str) -> str:
    nonce = secrets.token_bytes(_NONCE)
    cipher = AES.new(keys.pan_key, AES.MODE_GCM, nonce=nonce)
    cipher.update(_AAD)
    data, tag = cipher.encrypt_and_digest(pan.encode("ascii"))
    return (nonce + data + tag).hex()


def decrypt_pan(keys: BankKeys, stored: str) -> str:
    """The clear PAN of `pan_enc` (ValueError if the key or the data is wrong)."""
    raw = bytes.fromhex(stored)
    cipher = AES.new(keys.pan_key, AES.MODE_GCM, nonce=raw[:_NONCE])
    cipher.update(_AAD)
    return cipher.decrypt_and_verify(raw[_NONCE:-16], raw[-16:]).decode("ascii")


def validation_data(pan: str) -> str:
    """The PAN's 12 rightmost digits without the check digit (the account number
    of an ISO 9564 format 0 PIN block), padded to 16 hex digits with F."""
    return pan[-13:-1].ljust(16, "F")


@lru_cache(maxsize=16)
def _pvk_cipher(pvk: bytes) -> Any:
    return DES3.new(pvk, DES3.MODE_ECB)   # set up once per PVK (ECB keeps no state between calls)


def ibm3624_natural_pin(pvk: bytes, validation: str, length: int, table: str = DECIMALISATION) -> str:
    """IBM 3624: encrypt the 16 hex digits of validation data under the PVK
    (double-length 3DES, ECB), decimalise the result digit by digit with
    `table`, keep the leftmost `length` digits."""
    encrypted = _pvk_cipher(pvk).encrypt(bytes.fromhex(validation)).hex().upper()
    return "".join(table[int(digit, 16)] for digit in encrypted)[:length]


def ibm3624_offset(pvk: bytes, validation: str, pin: str, table: str = DECIMALISATION) -> str:
    """The PIN offset: each PIN digit minus the natural PIN's, modulo 10. It has
    the PIN's length (4-12 digits) and verifies every digit of it."""
    if not pin.isascii() or not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValueError("a PIN is 4 to 12 digits")
    natural = ibm3624_natural_pin(pvk, validation, len(pin), table)
    return "".join(str((int(p) - int(n)) % 10) for p, n in zip(pin, natural))


def pin_offset(keys: BankKeys, pan: str, pin: str) -> str:
    """What bank_accounts.pin_offset holds for this card and PIN."""
    return ibm3624_offset(keys.pvk, validation_data(pan), pin)


def pin_matches(keys: BankKeys, pan: str, stored_offset: str, pin: str) -> bool:
    """Whether `pin` is the card's PIN (its offset is the stored one)."""
    if not pin.isascii() or not pin.isdigit() or len(pin) != len(stored_offset):
        return False
    return hmac.compare_digest(pin_offset(keys, pan, pin), stored_offset)
