"""The card centre's tables (docs/cards.md §5).

Money is integer fen. Like every table outside bank_accounts, these hold a
masked PAN at most; card keys are never stored (they are recomputed from the
issuer keys in the host config)."""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, String, Table,
                        Text)

from host.schema.metadata import metadata

CARD_STATUSES = ("active", "lost", "blacklisted")

# The registry: one row per issued e-purse card (application serial number).
ic_cards = Table(
    "ic_cards", metadata,
    Column("serial", String(20), primary_key=True),           # 20 hex digits, upper case
    Column("holder", String(100), nullable=False),
    Column("status", String(12), nullable=False),             # active | lost | blacklisted
    # the host's mirror of the card's balances, moved only by confirmed transactions
    Column("ed_fen", BigInteger, nullable=False),              # 电子存折 passbook
    Column("ep_fen", BigInteger, nullable=False),              # 电子钱包 purse
    Column("list_version", Integer, nullable=False, default=0),   # blacklist version of the last status change
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Loads, unloads and purchases. A tombstone (a cancel for a txn_id never seen)
# is a cancelled row with no card details.
card_txns = Table(
    "card_txns", metadata,
    Column("id", Integer, primary_key=True),
    Column("txn_id", String(64), nullable=False, unique=True),
    Column("kiosk_id", String(32), nullable=False),            # the kiosk that authorised (or cancelled)
    Column("serial", String(20), index=True),                  # as sent: unknown cards are recorded too
    Column("kind", String(8), nullable=False),                 # load | unload | purchase
    Column("txn_type", Integer),                               # 01 ED load .. 06 EP purchase (DESIGN §5)
    Column("wallet", String(2)),                               # ED | EP
    Column("amount_fen", BigInteger),
    Column("balance_fen", BigInteger),                         # the card's balance before, as it answered
    Column("counter", Integer),                                # online (load/unload) or offline counter, before
    Column("random", String(8)),                               # the card's random, hex
    Column("term_id", String(12)),
    Column("term_txn_no", BigInteger),                         # purchases
    Column("when", String(14)),                                # YYYYMMDDhhmmss, the kiosk's clock (in the MACs)
    Column("state", String(10), nullable=False),               # authorised | completed | cancelled | declined
    Column("code", String(32)),                                # decline code
    Column("account_id", ForeignKey("bank_accounts.id")),      # the bank card of a load / unload
    Column("masked_pan", String(19)),                          # never the full PAN
    Column("household_id", ForeignKey("households.id")),       # purchases
    Column("periods", String(200)),
    Column("late_fee_fen", BigInteger),
    Column("reference", String(12), unique=True),
    Column("business_day", Date, nullable=False),
    Column("proof", String(16)),                               # the TAC (‖ MAC2) or MAC3 that completed it
    Column("reply_json", Text),                                # the authorise answer, byte for byte
    Column("created_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
    Column("resolved_by", String(32)),                         # the kiosk that confirmed or cancelled
    Index("ix_card_txns_account_day", "account_id", "business_day"),
    Index("ix_card_txns_household_state", "household_id", "state"),
    Index("ix_card_txns_day", "business_day"),            # the console's day searches and reconciliation
)

# Every time a kiosk is shown a card (cards/seen).
card_sightings = Table(
    "card_sightings", metadata,
    Column("id", Integer, primary_key=True),
    Column("serial", String(20), nullable=False, index=True),
    Column("kiosk_id", String(32), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("status", String(12), nullable=False),              # the registry's answer, or unknown
)

# One row per status change, numbered 1, 2, 3...: kiosks fetch the changes
# since the version they hold.
card_blacklist = Table(
    "card_blacklist", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("serial", String(20), nullable=False),
    Column("listed", Boolean, nullable=False),                 # lost / blacklisted: refuse the card
    Column("status", String(12), nullable=False),
    Column("at", DateTime, nullable=False),
)
