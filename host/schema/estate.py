"""The property side's tables: the estate (estates, buildings, units,
households), meters and their readings, and the bills with their lines.
Readings and areas are integers of hundredths, money integer fen: exact on
SQLite and PostgreSQL alike."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from host.schema.metadata import metadata

estates = Table(
    "estates", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
)

buildings = Table(
    "buildings", metadata,
    Column("id", Integer, primary_key=True),
    Column("estate_id", ForeignKey("estates.id"), nullable=False),
    Column("number", Integer, nullable=False),
    UniqueConstraint("estate_id", "number"),
)

units = Table(
    "units", metadata,
    Column("id", Integer, primary_key=True),
    Column("building_id", ForeignKey("buildings.id"), nullable=False),
    Column("number", Integer, nullable=False),
    UniqueConstraint("building_id", "number"),
)

households = Table(
    "households", metadata,
    Column("id", Integer, primary_key=True),
    Column("unit_id", ForeignKey("units.id"), nullable=False),
    Column("room", String(4), nullable=False),
    Column("house_no", String(16), nullable=False),   # canonical "building-unit-room"
    Column("area_m2_x100", Integer, nullable=False),   # 89.50 m2 -> 8950
    Index("ix_households_house_no", "house_no", unique=True),
)

UTILITY_UNITS = {"water": "m3", "electricity": "kWh", "gas": "m3"}

meters = Table(
    "meters", metadata,
    Column("id", Integer, primary_key=True),
    Column("household_id", ForeignKey("households.id"), nullable=False),
    Column("utility", String(12), nullable=False),     # water | electricity | gas
    UniqueConstraint("household_id", "utility"),
)

readings = Table(
    "readings", metadata,
    Column("id", Integer, primary_key=True),
    Column("meter_id", ForeignKey("meters.id"), nullable=False),
    Column("period", String(7), nullable=False),       # "YYYY-MM": the reading at the end of that month
    Column("value_x100", BigInteger, nullable=False),  # 10234.50 -> 1023450
    Column("read_at", String(32)),                     # as the reading system sent it, if it did
    UniqueConstraint("meter_id", "period"),
)

bills = Table(
    "bills", metadata,
    Column("id", Integer, primary_key=True),
    Column("household_id", ForeignKey("households.id"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("paid_at", DateTime),
    Column("paid_ref", String(64)),
    # (household, period) unique: billing twice is impossible; also the lookup index.
    UniqueConstraint("household_id", "period", name="uq_bills_household_period"),
)

bill_lines = Table(
    "bill_lines", metadata,
    Column("id", Integer, primary_key=True),
    Column("bill_id", ForeignKey("bills.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),       # display order on the bill
    Column("utility", String(12), nullable=False),
    Column("unit", String(4), nullable=False),
    Column("previous_x100", BigInteger),               # null for the property fee
    Column("current_x100", BigInteger),
    Column("usage_x100", BigInteger, nullable=False),
    Column("tiers_json", Text, nullable=False),         # wire-shaped tier list, frozen at billing time
    Column("amount_fen", BigInteger, nullable=False),
)
