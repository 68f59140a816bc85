"""Staff passwords: scrypt (RFC 7914, hashlib.scrypt from the standard library).

Parameters: N = 2^17, r = 8, p = 1 - OWASP's recommended minimum for scrypt
(128 MiB and ~0.6 s per hash on the project's 2-core VM). Memory-hard, so a
stolen table is costly to search on GPUs; slow enough to matter, fast enough
for a sign-in a few times a day. The parameters are stored with each hash
(scrypt$N$r$p$salt$hash), so they can be raised later and old hashes still
verify (and are rehashed at the next sign-in). At most two hashes run at once:
128 MiB each, and the host has other work."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 17, 8, 1
KEY_BYTES, SALT_BYTES = 32, 16
MIN_LENGTH, MAX_LENGTH = 8, 200

_slots = threading.BoundedSemaphore(2)


@dataclass(frozen=True, slots=True)
class Cost:
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P


DEFAULT_COST = Cost()


class WeakPassword(ValueError):
    pass


def check_policy(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise WeakPassword(f"a password is {MIN_LENGTH} to {MAX_LENGTH} characters")
    if password.strip() != password or not password.strip():
        raise WeakPassword("a password must not begin or end with spaces")


def _derive(password: str, salt: bytes, cost: Cost) -> bytes:
    with _slots:
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=cost.n, r=cost.r, p=cost.p,
                              maxmem=2 * 128 * cost.r * cost.n * cost.p + (1 << 20), dklen=KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, cost: Cost = DEFAULT_COST) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${cost.n}${cost.r}${cost.p}${_b64(salt)}${_b64(_derive(password, salt, cost))}"


def _parse(stored: str) -> tuple[Cost, bytes, bytes] | None:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return None
        return Cost(int(n), int(r), int(p)), base64.b64decode(salt), base64.b64decode(key)
    except ValueError:
        return None


def verify_password(password: str, stored: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    cost, salt, key = parsed
    return hmac.compare_digest(_derive(password, salt, cost), key)


def needs_rehash(stored: str, cost: Cost = DEFAULT_COST) -> bool:
    """True when the stored hash was made with other parameters than `cost`."""
    parsed = _parse(stored)
    return parsed is None or parsed[0] != cost


_dummy: dict[Cost, str] = {}


def burn_time(password: str, cost: Cost = DEFAULT_COST) -> None:
    """Verify against a throwaway hash: an unknown user name takes as long to
    refuse as a wrong password, so timing does not tell which names exist."""
    if cost not in _dummy:
        _dummy[cost] = hash_password(secrets.token_hex(8), cost)
    verify_password(password, _dummy[cost])
