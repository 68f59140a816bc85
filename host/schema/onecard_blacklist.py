"""The unpaid-fee blacklist's tables (issue 14, deliverable 5; docs/onecard.md
"Unpaid-fee blacklist"): the households listed now, the versioned changes of
their one-cards (what a kiosk downloads "since version v"), and the rule's
last run (the N it used, so a payment can lift a listing at once)."""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, ForeignKey, Integer, String, Table

from host.schema.metadata import metadata

# One row per household listed now: its property fee unpaid more than N days after its due date.
onecard_unpaid = Table(
    "onecard_unpaid", metadata,
    Column("household_id", ForeignKey("households.id"), primary_key=True),
    Column("house_no", String(16), nullable=False),
    Column("since", Date, nullable=False),                     # due date of the oldest such property fee
    Column("amount_fen", BigInteger, nullable=False),          # property fees unpaid past due (bills' lines)
    Column("listed_at", DateTime, nullable=False),
)

# Every change of a one-card's listing: dense versions, like card_blacklist.
onecard_blacklist = Table(
    "onecard_blacklist", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("uid", String(8), nullable=False, index=True),
    Column("listed", Boolean, nullable=False),
    Column("house_no", String(16)),
    Column("since", Date),                                     # null when lifted
    Column("amount_fen", BigInteger),
    Column("at", DateTime, nullable=False),
)

# The rule's last full run (one row, id 1): the N a payment's re-check uses.
onecard_blacklist_runs = Table(
    "onecard_blacklist_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("unpaid_days", Integer, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("at", DateTime, nullable=False),
)
