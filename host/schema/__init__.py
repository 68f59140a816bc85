"""The host's database schema: one module per area, all on one MetaData
(host.schema.metadata), and the one place that creates and drops them.

    estate   estate, meters, readings, bills           (host.estate, billing, readings_import, seed)
    bank     kiosks' keys, card accounts, payments, journal, property ledger, backup copies  (host.bank)
    cards    card registry, card transactions, sightings, blacklist          (host.cards)
    fleet    kiosks' last reports, history, commands                         (host.fleet)
    onecard  one-card registry and mirror, its transactions, staff flags     (host.onecard)
    onecard_blacklist  unpaid-fee listings, their versioned changes, last run  (host.unpaid_fees)
    console  staff accounts, sessions, audit log, sign-in throttles          (host.console)
    transfers  money between two cards: one transfer, its legs                (host.transfers)
    meters   prepaid meters and their user cards, meter sales               (host.meters)

An area's table module imports only the metadata (import contract
"host-schema-areas"), and nothing here imports the rest of the host, so any
host module can use any table without an import cycle. A new area adds its
module here and to the import below: importing any part of host.schema
registers every table, so create_tables and drop_tables never miss one
whatever was imported first.

The tables here are the schema at Alembic revision REVISION (host.migrations,
docs/host.md "Schema and migrations"): a change to any table is a new revision
in host/migrations/versions and REVISION raised to it, in the same commit
(tests/host/test_migrations.py fails otherwise)."""
from __future__ import annotations

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, delete, inspect, insert
from sqlalchemy.engine import Engine

from host.schema import bank, cards, console, estate, fleet, meters, onecard, onecard_blacklist, transfers  # noqa: F401
from host.schema.metadata import metadata

__all__ = ["REVISION", "create_tables", "drop_tables", "has_host_tables", "metadata"]

# The Alembic revision these tables are: host.migrations' head.
REVISION = "0009"

# Alembic's own bookkeeping table, as Alembic creates it, on a MetaData of its
# own (it is not a host table: migrations' compare leaves it out). Declared here
# so that this package stamps a new database without importing host.migrations,
# which imports it (contract "host-schema-areas").
_version_table = Table(
    "alembic_version", MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def has_host_tables(engine: Engine) -> bool:
    """Whether the database holds any of the host's tables."""
    return bool(set(inspect(engine).get_table_names()) & set(metadata.tables))


def create_tables(engine: Engine) -> None:
    """A database without any host table gets them all, stamped at REVISION (one
    transaction). Any other is left as it is: bringing it up to date is
    `kiosk host migrate`'s job, refusing it when behind host.migrations.ready's.
    Idempotent: app start-up, the CLI and the tests all call it."""
    if has_host_tables(engine):
        return
    with engine.begin() as conn:
        metadata.create_all(conn)
        _version_table.create(conn, checkfirst=True)
        conn.execute(delete(_version_table))
        conn.execute(insert(_version_table).values(version_num=REVISION))


def drop_tables(engine: Engine) -> None:
    """Every host table and the schema's revision (`seed --fresh`)."""
    metadata.drop_all(engine)
    _version_table.drop(engine, checkfirst=True)
