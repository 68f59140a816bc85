"""The host schema's migrations (Alembic), configured here from the engine the
host already opened: no alembic.ini for anyone to edit. The revisions are in
host/migrations/versions; host.schema's tables are the head (host.schema.REVISION).

A database is in one of five states (`state`):

    empty     no host table: created at head (host.schema.create_tables) on first use
    legacy    host tables without Alembic's alembic_version: made by create_tables
              before migrations existed, i.e. revision LEGACY_REVISION
    behind    stamped at an older revision
    current   at head
    unknown   stamped at a revision this release does not know (a newer release's)

`migrate` brings every state but unknown to head; `ready` (the app and every
CLI command but migrate) creates an empty database and refuses any other that
is not current, naming `kiosk host migrate`."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from host.schema import create_tables, has_host_tables, metadata

# What create_tables made before this package existed: the first revision is
# exactly that schema, so such a database is stamped there and upgraded on.
LEGACY_REVISION = "0001"
_HERE = Path(__file__).resolve().parent


class SchemaNotCurrent(Exception):
    """The database's schema is not this release's: the message says what to do."""


def config(conn: Connection | None = None) -> Config:
    """Alembic's configuration for the host, on `conn` (env.py runs on it)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    found = ScriptDirectory.from_config(config()).get_current_head()
    assert found is not None, "host/migrations/versions holds no revision"
    return found


def current(conn: Connection) -> str | None:
    """The revision the database is stamped at (None: not stamped)."""
    return MigrationContext.configure(conn).get_current_revision()


def state(engine: Engine) -> str:
    with engine.connect() as conn:
        stamped = current(conn) if inspect(conn).has_table("alembic_version") else None
    if stamped is None:
        return "legacy" if has_host_tables(engine) else "empty"
    if stamped == head():
        return "current"
    known = {script.revision for script in ScriptDirectory.from_config(config()).walk_revisions()}
    return "behind" if stamped in known else "unknown"


def _newer(engine: Engine) -> SchemaNotCurrent:
    return SchemaNotCurrent("the database's schema is from a newer release than this one "
                            f"(which knows revisions up to {head()}): run that release")


def ready(engine: Engine) -> None:
    """Make an empty database at head (host.schema.create_tables: the tables as
    host.schema declares them, stamped at its REVISION, which is head); raise
    SchemaNotCurrent for one that is not at head."""
    create_tables(engine)
    found = state(engine)
    if found in ("behind", "legacy"):
        raise SchemaNotCurrent("the database's schema is older than this release's "
                               f"(revision {head()}): run `kiosk host migrate` first")
    if found == "unknown":
        raise _newer(engine)


def migrate(engine: Engine) -> tuple[str, str]:
    """Upgrade the database to head in one transaction (a failed revision leaves
    it as it was: SQLite and PostgreSQL both roll DDL back). Returns (state before, revision after). A legacy database is stamped at
    LEGACY_REVISION first (its rows untouched); an empty one runs every revision."""
    before = state(engine)
    if before == "unknown":
        raise _newer(engine)
    with engine.begin() as conn:
        cfg = config(conn)
        if before == "legacy":
            command.stamp(cfg, LEGACY_REVISION)
        command.upgrade(cfg, "head")
    return before, head()


def differences(engine: Engine) -> list[object]:
    """What Alembic's compare finds between the database and host.schema (empty: none)."""
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata))
