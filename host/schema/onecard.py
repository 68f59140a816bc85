"""The estate one-card's tables (MIFARE Classic 1K, docs/onecard.md "The host").

The host's mirror is the authority (DESIGN §5): `onecards.balance_fen` and
`txn_count` move only when a confirmed transaction (or a presentation that
proves one applied) says so. Card keys are never stored: they are derived
from [card_centre] mka/mkb/mki for each card's UID."""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, Text

from host.schema.metadata import metadata

ONECARD_KINDS = ("resident", "staff", "temporary")
ONECARD_STATUSES = ("active", "lost", "returned")

# The registry and the mirror: one row per one-card (its 4-byte UID, hex).
onecards = Table(
    "onecards", metadata,
    Column("uid", String(8), primary_key=True),               # 8 hex digits, upper case
    Column("serial", BigInteger, nullable=False, unique=True),  # block 4's card serial
    Column("household_id", ForeignKey("households.id")),
    Column("house_no", String(16)),
    Column("holder", String(100), nullable=False),
    Column("card_type", String(10), nullable=False),          # resident | staff | temporary
    Column("status", String(10), nullable=False),             # active | lost | returned
    Column("issued", Date, nullable=False),
    Column("expiry", Date, nullable=False),
    Column("black", Boolean, nullable=False, default=False),  # the unpaid-fee black flag
    Column("balance_fen", BigInteger, nullable=False),        # the mirror: what the purse must hold
    Column("txn_count", Integer, nullable=False),             # the card's transaction count (mod 65536)
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Every one-card transaction: a load from a bank card or a bill payment.
onecard_txns = Table(
    "onecard_txns", metadata,
    Column("id", Integer, primary_key=True),
    Column("txn_id", String(64), nullable=False, unique=True),
    Column("kiosk_id", String(32), nullable=False),            # the kiosk that authorised
    Column("uid", String(8), nullable=False, index=True),
    Column("kind", String(8), nullable=False),                 # load | bill
    Column("txn_type", Integer, nullable=False),               # 01 load, 05 bill payment (DESIGN §5)
    Column("amount_fen", BigInteger, nullable=False),
    Column("balance_before", BigInteger, nullable=False),
    Column("count_before", Integer, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("count_after", Integer, nullable=False),
    Column("state", String(10), nullable=False),               # authorised | completed | cancelled | declined
    Column("code", String(32)),                                # decline code, or the cancel's reason
    Column("account_id", ForeignKey("bank_accounts.id")),      # a load's bank card
    Column("masked_pan", String(19)),                          # never the full PAN
    Column("household_id", ForeignKey("households.id")),       # a bill payment's household
    Column("periods", String(200)),
    Column("late_fee_fen", BigInteger),
    Column("reference", String(12), unique=True),              # the payment reference (M + YYMMDD + 5)
    Column("business_day", Date, nullable=False),
    Column("reply_json", Text),                                # the authorise answer (keys withheld)
    Column("created_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
    Column("resolved_by", String(32)),                         # the kiosk that confirmed or cancelled
    Index("ix_onecard_txns_uid_state", "uid", "state"),
    Index("ix_onecard_txns_household_state", "household_id", "state"),
)

# Cards refused at a presentation and shown to staff ("please see the property office").
onecard_flags = Table(
    "onecard_flags", metadata,
    Column("id", Integer, primary_key=True),
    Column("uid", String(8), nullable=False, index=True),
    Column("kiosk_id", String(32), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("reason", String(32), nullable=False),              # mirror_mismatch | auth_code | purse_refused ...
    Column("detail", String(300), nullable=False),             # what the card said against the mirror
    Column("cleared_at", DateTime),
)
