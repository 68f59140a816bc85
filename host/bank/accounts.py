"""Card accounts of the bank front-end, seeded from config/test-cards.toml.

A PIN is kept as a verification value only: SHA-256 over a random per-account
salt and the PIN. (A 4-12 digit PIN is a small space, so any stored hash can be
searched; a real issuer verifies PINs inside an HSM with a secret PIN
verification key. The salt keeps equal PINs from looking equal.)"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from host.db import bank_accounts
from kiosk.config import CONFIG_DIR, Section, load_toml
from kiosk.domain.card import luhn_ok, mask_pan
from kiosk.domain.money import Money

TEST_CARDS = CONFIG_DIR / "test-cards.toml"
MAX_PIN_TRIES = 3


@dataclass(frozen=True, slots=True)
class Card:
    name: str
    pan: str
    expiry: str           # YYMM
    pin: str
    balance_fen: int
    daily_limit_fen: int
    status: str           # active | blocked

    def __repr__(self) -> str:   # never the PAN or the PIN
        return f"Card({self.name!r}, {mask_pan(self.pan)})"


def load_test_cards(path: Path | str = TEST_CARDS) -> list[Card]:
    root = load_toml(path)
    cards: list[Card] = []
    for i, item in enumerate(root.get("card", list)):
        section = Section(root.file, item, f"card[{i}].")
        pan = section.get("pan", str, check=lambda v: None if v.isdigit() and 13 <= len(v) <= 19
                          and luhn_ok(v) else "must be 13-19 digits with a valid check digit")
        expiry = section.get("expiry", str, check=lambda v: None if len(v) == 4 and v.isdigit()
                             and 1 <= int(v[2:]) <= 12 else "must be YYMM")
        pin = section.get("pin", str, check=lambda v: None if v.isdigit() and 4 <= len(v) <= 12
                          else "must be 4-12 digits")
        status = section.get("status", str, "active",
                             check=lambda v: None if v in ("active", "blocked") else "must be active or blocked")
        cards.append(Card(section.get("name", str), pan, expiry, pin,
                          Money.parse(section.get("balance", str)).fen,
                          Money.parse(section.get("daily_limit", str)).fen, status))
        section.get("service_code", str, "101")
        section.reject_unknown()
    return cards


def pin_hash(salt: bytes, pin: str) -> str:
    return hashlib.sha256(salt + pin.encode("ascii")).hexdigest()


def pin_matches(salt_hex: str, stored_hash: str, pin: str) -> bool:
    return hmac.compare_digest(pin_hash(bytes.fromhex(salt_hex), pin), stored_hash)


def seed_accounts(conn: Connection, cards: list[Card]) -> int:
    """Open an account per card not yet known (by PAN). Returns how many were added."""
    known = set(conn.execute(select(bank_accounts.c.pan)).scalars())
    rows = []
    for card in cards:
        if card.pan in known:
            continue
        salt = secrets.token_bytes(16)
        rows.append({"pan": card.pan, "masked_pan": mask_pan(card.pan), "holder": card.name,
                     "expiry": card.expiry, "status": card.status, "balance_fen": card.balance_fen,
                     "daily_limit_fen": card.daily_limit_fen, "pin_salt": salt.hex(),
                     "pin_hash": pin_hash(salt, card.pin), "pin_tries": 0})
    if rows:
        conn.execute(insert(bank_accounts), rows)
    return len(rows)


ACCOUNT_BY_PAN = select(bank_accounts).where(bank_accounts.c.pan == bindparam("pan"))
