"""The prepaid meters' tables (issue 15, host.meters; docs/meters.md "The host").

Quantities are integer hundredths of a unit (0.01 kWh / 0.01 m³), money is
integer fen. Meter keys are never stored: each meter's PK, RK and UK are
recomputed from the [meters] masters in the host config."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, Text

from host.schema.metadata import metadata

CARD_STATES = ("active", "lost", "reissued")
SALE_STATES = ("quoted", "paid", "written", "confirmed", "reversed")

# One row per prepaid meter of the estate, with its user card's state.
prepaid_meters = Table(
    "prepaid_meters", metadata,
    Column("meter_no", String(12), primary_key=True),            # 12 digits (6 BCD bytes on the card)
    Column("utility", String(12), nullable=False),               # electricity | water | gas
    Column("household_id", ForeignKey("households.id"), nullable=False),
    Column("hoarding_max", BigInteger, nullable=False),          # the meter's maximum, 0.01 units
    Column("card_state", String(10), nullable=False),            # active | lost | reissued
    Column("last_count", Integer, nullable=False, default=0),    # the last purchase count sold (reissue carries it)
    Column("last_total", BigInteger, nullable=False, default=0), # total purchased on the card after that sale
    Column("updated_at", DateTime, nullable=False),
)

# Every sale, from its quote on. `state`: quoted -> paid (the bank card debited)
# -> written (the write MAC handed out: the card may hold it) -> confirmed (EF 01
# read back), or reversed (the money given back, the card provably not written).
SOLD = ("paid", "written", "confirmed")     # sales that count for the tiers and the card (and the money)
WALLET_PREFIX = "meter:"     # card_txns.periods of a wallet purchase paying a meter sale (host.cards.purchase)

meter_sales = Table(
    "meter_sales", metadata,
    Column("id", Integer, primary_key=True),
    Column("sale_id", String(64), nullable=False, unique=True),   # the kiosk's id (its journal key)
    Column("kiosk_id", String(32), nullable=False),
    Column("meter_no", ForeignKey("prepaid_meters.meter_no"), nullable=False),
    Column("household_id", ForeignKey("households.id"), nullable=False),
    Column("count", Integer, nullable=False),                     # the purchase count of this sale
    Column("quantity", BigInteger, nullable=False),               # 0.01 units
    Column("total", BigInteger, nullable=False),                  # EF 01's total purchased after it
    Column("year", Integer, nullable=False),                      # the calendar year its tiers counted in
    Column("lines", Text, nullable=False),                        # JSON: [{tier, quantity, unit_price, amount_fen}]
    Column("amount_fen", BigInteger, nullable=False),
    Column("state", String(10), nullable=False),
    Column("image", String(40)),                                  # the signed EF 01, hex (paid on)
    Column("account_id", ForeignKey("bank_accounts.id")),         # the bank card that paid
    Column("masked_pan", String(19)),
    Column("reference", String(12)),                              # the payment reference
    Column("business_day", Date),
    Column("quoted_at", DateTime, nullable=False),
    Column("paid_at", DateTime),
    Column("written_at", DateTime),
    Column("confirmed_at", DateTime),
    Column("reversed_at", DateTime),
    Column("reason", String(64)),                                 # why reversed
    Index("ix_meter_sales_meter_state", "meter_no", "state"),
    Index("ix_meter_sales_day", "business_day"),       # the console's reconciliation, a day at a time (0006)
)
