"""Card accounts of the bank front-end, seeded from config/test-cards.toml.

A PIN is kept as a verification value only: SHA-256 over a random per-account
salt and the PIN. (A 4-12 digit PIN is a small space, so any stored hash can be
searched; a real issuer verifies PINs inside an HSM with a secret PIN
verification key. The salt keeps equal PINs from looking equal.)"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from host.db import bank_accounts
from kiosk.devices.sim.test_cards import DemoCard
from kiosk.domain.card import mask_pan

MAX_PIN_TRIES = 3


def pin_hash(salt: bytes, pin: str) -> str:
    return hashlib.sha256(salt + pin.encode("ascii")).hexdigest()


def pin_matches(salt_hex: str, stored_hash: str, pin: str) -> bool:
    return hmac.compare_digest(pin_hash(bytes.fromhex(salt_hex), pin), stored_hash)


def seed_accounts(conn: Connection, cards: tuple[DemoCard, ...]) -> int:
    """Open an account per card not yet known (by PAN). Returns how many were added."""
    known = set(conn.execute(select(bank_accounts.c.pan)).scalars())
    rows = []
    for card in cards:
        if card.pan in known:
            continue
        salt = secrets.token_bytes(16)
        rows.append({"pan": card.pan, "masked_pan": mask_pan(card.pan), "holder": card.name,
                     "expiry": card.expiry, "status": card.status, "balance_fen": card.balance.fen,
                     "daily_limit_fen": card.daily_limit.fen, "pin_salt": salt.hex(),
                     "pin_hash": pin_hash(salt, card.pin), "pin_tries": 0})
    if rows:
        conn.execute(insert(bank_accounts), rows)
    return len(rows)


