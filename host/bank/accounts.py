"""Card accounts of the bank front-end, seeded from config/test-cards.toml.

No clear card number and no PIN-derived hash is kept (host.bank.card_vault):
an account is found by `pan_hash` (HMAC-SHA256 of the PAN under the [bank]
pan_hash_key), its PAN is kept encrypted in `pan_enc` (AES-GCM under the
pan_key) for statements only, and its PIN as an IBM 3624 offset under the PIN
verification key (pvk), as an issuer's HSM checks it."""
from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from host.bank.card_vault import encrypt_pan, pan_hash, pin_offset
from host.config import BankKeys
from host.schema.bank import bank_accounts
from common.demo_cards import DemoCard
from common.bank_card import mask_pan

MAX_PIN_TRIES = 3


def seed_accounts(conn: Connection, cards: tuple[DemoCard, ...], keys: BankKeys) -> int:
    """Open an account per card not yet known (by its PAN's hash). Returns how many were added."""
    known = set(conn.execute(select(bank_accounts.c.pan_hash)).scalars())
    rows = []
    for card in cards:
        lookup = pan_hash(keys, card.pan)
        if lookup in known:
            continue
        rows.append({"pan_hash": lookup, "pan_enc": encrypt_pan(keys, card.pan), "masked_pan": mask_pan(card.pan),
                     "holder": card.name, "expiry": card.expiry, "status": card.status,
                     "balance_fen": card.balance.fen, "daily_limit_fen": card.daily_limit.fen,
                     "pin_offset": pin_offset(keys, card.pan, card.pin), "pin_tries": 0})
    if rows:
        conn.execute(insert(bank_accounts), rows)
    return len(rows)


