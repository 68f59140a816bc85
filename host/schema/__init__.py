"""The host's database schema: one module per area, all on one MetaData
(host.schema.metadata), and the one place that creates and drops them.

    estate   estate, meters, readings, bills           (host.estate, billing, readings_import, seed)
    bank     kiosks' keys, card accounts, payments, journal, property ledger, backup copies  (host.bank)
    cards    card registry, card transactions, sightings, blacklist          (host.cards)
    fleet    kiosks' last reports, history, commands                         (host.fleet)
    console  staff accounts, sessions, audit log                             (host.console)

An area's table module imports only the metadata (import contract
"host-schema-areas"), and nothing here imports the rest of the host, so any
host module can use any table without an import cycle. A new area adds its
module here and to the import below: importing any part of host.schema
registers every table, so create_tables and drop_tables never miss one
whatever was imported first."""
from __future__ import annotations

from sqlalchemy.engine import Engine

from host.schema import bank, cards, console, estate, fleet  # noqa: F401  (registers every table)
from host.schema.metadata import metadata


def create_tables(engine: Engine) -> None:
    """Missing tables, and missing indexes of existing tables (create_all makes a
    table's indexes only with the table, and a host's database outlives releases).
    Idempotent: app start-up, the CLI and the tests all call it."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)


def drop_tables(engine: Engine) -> None:
    """Every host table (`seed --fresh`)."""
    metadata.drop_all(engine)
