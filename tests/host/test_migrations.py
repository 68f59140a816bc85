"""The host's schema migrations (host.migrations, docs/host.md "Schema and
migrations"), on SQLite and PostgreSQL: a database made by the release before
migrations upgrades without losing a row or a fen, an empty one migrates to
exactly host.schema's tables, and a host refuses a database that is behind."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import BigInteger, Column, Date, DateTime, ForeignKey, Index, Integer, MetaData, String, Table, Text, \
    func, insert, inspect, select, text
from sqlalchemy.engine import Engine

from host import cli, migrations
from host.app import create_app
from host.config import HostSettings
from host.db import make_engine
from host.schema import REVISION, create_tables, metadata
from host.seed import seed_demo
from tests.support.databases import BACKENDS, POSTGRESQL, Databases
from tests.support.host_env import SEED_TODAY

pytestmark = pytest.mark.backends(*BACKENDS)

# The tables revisions 0002 (the ISO 8583 bank link), 0003 (the one-card),
# 0004 (prepaid meters), 0005 (the one-card's unpaid-fee blacklist), 0007 (transfers) and 0008 (the
# sign-in throttles of several workers) added
ADDED_AFTER_0001 = frozenset({"bank_link_sessions", "bank_link_journal", "bank_link_settlements",
                              "bank_link_uploads", "bank_link_counters",
                              "onecards", "onecard_txns", "onecard_flags", "prepaid_meters", "meter_sales",
                              "onecard_unpaid", "onecard_blacklist", "onecard_blacklist_runs",
                              "signin_throttles", "transfers", "transfer_legs"})
# Indexes revision 0006 added to tables of 0001 (the console's link queries), and 0009's
INDEXES_ADDED_AFTER_0001 = ("ix_property_backups_reference", "ix_fleet_kiosks_changed_xid")
# Columns later revisions added to tables of 0001: 0009, the fleet's change cursor
COLUMNS_ADDED_AFTER_0001 = (("fleet_kiosks", "changed_xid"),)
# The table revision 0006 dropped with its rows (the JSON bank payments', unwritten
# since issue 16), as 0001 made it, on a MetaData of its own: the old database has it.
_OLD = MetaData()
BANK_TXNS_0001 = Table(
    "bank_txns", _OLD,
    Column("id", Integer, primary_key=True),
    Column("txn_id", String(64), nullable=False, unique=True),
    Column("kiosk_id", String(32), nullable=False),
    Column("state", String(10), nullable=False),
    Column("account_id", ForeignKey("bank_accounts.id")),
    Column("masked_pan", String(19)),
    Column("household_id", ForeignKey("households.id")),
    Column("amount_fen", BigInteger, nullable=False),
    Column("reference", String(12), unique=True),
    Column("business_day", Date, nullable=False),
    Column("kiosk_time", String(32)),
    Column("reply_json", Text),
    Column("created_at", DateTime, nullable=False),
    Column("reversed_at", DateTime),
    Index("ix_bank_txns_account_day", "account_id", "business_day"),
    Index("ix_bank_txns_day", "business_day"),
)
Table("bank_accounts", _OLD, Column("id", Integer, primary_key=True))    # the foreign keys' targets
Table("households", _OLD, Column("id", Integer, primary_key=True))


@pytest.fixture
def db_url(backend: str, databases: Databases, tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend."""
    url = databases.pg.url(databases.pg.create_database("migrate")) if backend == POSTGRESQL \
        else f"sqlite:///{tmp_path / 'host.sqlite3'}"
    yield url
    databases.release(url)


@pytest.fixture
def engine_of(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def census(engine: Engine) -> dict[str, int]:
    """Rows per host table, and the total of every money (…_fen) column."""
    found: dict[str, int] = {}
    present = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name not in present:     # added by a later revision: empty after the upgrade
                continue
            found[table.name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
            for column in table.columns:
                if column.name.endswith("_fen"):
                    found[f"{table.name}.{column.name}"] = conn.execute(select(func.sum(column))).scalar() or 0
    return found


def upgraded(before: dict[str, int]) -> dict[str, int]:
    """The census of a database of `before` upgraded: the same rows and fen, and
    the tables added after 0001 there and empty."""
    added = {name: 0 for name in ADDED_AFTER_0001}
    added.update({f"{t.name}.{c.name}": 0 for t in metadata.sorted_tables if t.name in ADDED_AFTER_0001
                  for c in t.columns if c.name.endswith("_fen")})
    return {**before, **added}


def made_before_migrations(engine: Engine, settings: HostSettings) -> None:
    """What the release before migrations did: create_all (its create_tables, which
    also added indexes create_all had made already) and the demo seed; no alembic_version.
    That release's schema is today's less the tables revisions after 0001 added
    (0002-0005, 0007 and 0008 only added tables), the indexes 0006 added and the column
    0009 added (dropped again here), plus `bank_txns`, which 0006 dropped (with a JSON-era
    payment in it); when a revision changes a column of a table of 0001 (more than
    adding one), replace this with a frozen copy of that release's database."""
    assert migrations.LEGACY_REVISION == "0001" and REVISION == "0009"
    metadata.create_all(engine, tables=[t for t in metadata.sorted_tables if t.name not in ADDED_AFTER_0001])
    with engine.begin() as conn:
        for name in INDEXES_ADDED_AFTER_0001:
            conn.execute(text(f"DROP INDEX {name}"))
        for table, column in COLUMNS_ADDED_AFTER_0001:
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    BANK_TXNS_0001.create(engine)
    # that release had neither one-cards nor prepaid meters: its seed, today's without them
    seed_demo(engine, settings, 2000, today=SEED_TODAY, meters=False, onecards=False)
    with engine.begin() as conn:
        conn.execute(insert(BANK_TXNS_0001).values(
            txn_id="JSON-ERA-1", kiosk_id="KIOSK-DEMO-01", state="approved", amount_fen=12345,
            reference="261120000001", business_day=SEED_TODAY, created_at=SEED_TODAY))


def bank_txns_rows(engine: Engine) -> int | None:
    """The old table's rows; None once it is gone."""
    if "bank_txns" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(BANK_TXNS_0001)).scalar_one())


def test_the_schema_is_the_head_revision() -> None:
    assert REVISION == migrations.head()


def test_a_database_from_before_migrations_upgrades_keeping_every_row_and_fen(
        engine_of: Engine, settings: HostSettings) -> None:
    made_before_migrations(engine_of, settings)
    before = census(engine_of)
    assert before["households"] == 2000 and before["bills"] > 0 and before["bank_accounts"] > 0
    assert sum(v for k, v in before.items() if k.endswith("_fen")) > 0
    assert migrations.state(engine_of) == "legacy"
    assert bank_txns_rows(engine_of) == 1

    assert migrations.migrate(engine_of) == ("legacy", migrations.head())

    assert migrations.state(engine_of) == "current"
    assert census(engine_of) == upgraded(before)      # every other table's rows and fen kept
    assert bank_txns_rows(engine_of) is None          # the dead table (0006) is expected to go
    assert migrations.differences(engine_of) == []
    assert migrations.migrate(engine_of) == ("current", migrations.head())   # and again: nothing to do
    create_app(settings, engine_of)                                            # served now


def test_kiosk_host_migrate_upgrades_an_old_database(engine_of: Engine, settings: HostSettings, db_url: str,
                                                     host_toml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made_before_migrations(engine_of, settings)
    before = census(engine_of)

    assert cli.migrate(host_toml, db_override=db_url) == 0

    assert f"stamped and upgraded at revision {REVISION}" in capsys.readouterr().out
    assert census(engine_of) == upgraded(before)
    assert bank_txns_rows(engine_of) is None
    assert migrations.state(engine_of) == "current"


def test_an_empty_database_migrates_to_exactly_the_schema(engine_of: Engine) -> None:
    assert migrations.state(engine_of) == "empty"

    assert migrations.migrate(engine_of) == ("empty", migrations.head())

    assert migrations.state(engine_of) == "current"
    assert migrations.differences(engine_of) == []    # every table, column, type, index and constraint


def test_a_new_database_is_created_at_head(engine_of: Engine, settings: HostSettings) -> None:
    create_app(settings, engine_of)       # the host on an empty database: created, stamped
    assert migrations.state(engine_of) == "current"
    assert migrations.differences(engine_of) == []


def test_a_database_behind_head_is_refused_by_the_host_naming_migrate(
        engine_of: Engine, settings: HostSettings, db_url: str, host_toml: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    metadata.create_all(engine_of, tables=[t for t in metadata.sorted_tables   # from before migrations
                                           if t.name not in ADDED_AFTER_0001])
    with pytest.raises(migrations.SchemaNotCurrent, match="run `kiosk host migrate` first"):
        create_app(settings, engine_of)

    assert cli.serve(host_toml, db_override=db_url, port=0) == 1    # refused before it listens
    assert "run `kiosk host migrate` first" in capsys.readouterr().err
    assert cli.list_users(host_toml, db_override=db_url) == 1       # and so is every other command
    assert migrations.state(engine_of) == "legacy"                  # left as it was


def test_a_database_stamped_at_an_older_revision_is_refused(engine_of: Engine, settings: HostSettings,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    create_tables(engine_of)                           # at REVISION; this release pretends its head is later
    monkeypatch.setattr(migrations, "head", lambda: f"{int(REVISION) + 1:04d}")
    assert migrations.state(engine_of) == "behind"
    with pytest.raises(migrations.SchemaNotCurrent, match="kiosk host migrate"):
        create_app(settings, engine_of)


def test_a_database_from_a_newer_release_is_refused_and_not_migrated(engine_of: Engine,
                                                                     settings: HostSettings) -> None:
    create_tables(engine_of)
    with engine_of.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(migrations.SchemaNotCurrent, match="newer release"):
        create_app(settings, engine_of)
    with pytest.raises(migrations.SchemaNotCurrent, match="newer release"):
        migrations.migrate(engine_of)
