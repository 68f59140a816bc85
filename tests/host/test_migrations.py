"""The host's schema migrations (host.migrations, docs/host.md "Schema and
migrations"), on SQLite and PostgreSQL: a database made by the release before
migrations upgrades without losing a row or a fen, an empty one migrates to
exactly host.schema's tables, and a host refuses a database that is behind."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
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
# 0004 (prepaid meters), 0005 (the one-card's unpaid-fee blacklist) and 0007 (transfers) added
ADDED_AFTER_0001 = frozenset({"bank_link_sessions", "bank_link_journal", "bank_link_settlements",
                              "bank_link_uploads", "bank_link_counters",
                              "onecards", "onecard_txns", "onecard_flags", "prepaid_meters", "meter_sales",
                              "onecard_unpaid", "onecard_blacklist", "onecard_blacklist_runs",
                              "transfers", "transfer_legs"})


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
    (0002, 0003, 0005 and 0007 only added tables); when a revision changes a table of 0001, replace
    this with a frozen copy of that release's database."""
    assert migrations.LEGACY_REVISION == "0001" and REVISION == "0007"
    metadata.create_all(engine, tables=[t for t in metadata.sorted_tables if t.name not in ADDED_AFTER_0001])
    # that release had neither one-cards nor prepaid meters: its seed, today's without them
    seed_demo(engine, settings, 2000, today=SEED_TODAY, meters=False, onecards=False)


def test_the_schema_is_the_head_revision() -> None:
    assert REVISION == migrations.head()


def test_a_database_from_before_migrations_upgrades_keeping_every_row_and_fen(
        engine_of: Engine, settings: HostSettings) -> None:
    made_before_migrations(engine_of, settings)
    before = census(engine_of)
    assert before["households"] == 2000 and before["bills"] > 0 and before["bank_accounts"] > 0
    assert sum(v for k, v in before.items() if k.endswith("_fen")) > 0
    assert migrations.state(engine_of) == "legacy"

    assert migrations.migrate(engine_of) == ("legacy", migrations.head())

    assert migrations.state(engine_of) == "current"
    assert census(engine_of) == upgraded(before)
    assert migrations.differences(engine_of) == []
    assert migrations.migrate(engine_of) == ("current", migrations.head())   # and again: nothing to do
    create_app(settings, engine_of)                                            # served now


def test_kiosk_host_migrate_upgrades_an_old_database(engine_of: Engine, settings: HostSettings, db_url: str,
                                                     host_toml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made_before_migrations(engine_of, settings)
    before = census(engine_of)

    assert cli.migrate(host_toml, db_override=db_url) == 0

    assert "stamped and upgraded at revision 0007" in capsys.readouterr().out
    assert census(engine_of) == upgraded(before)
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
