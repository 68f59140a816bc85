"""Alembic's environment for the host: run by host.migrations (never by an
alembic.ini), on the connection it passes in `config.attributes`, against the
host's one MetaData."""
from __future__ import annotations

from alembic import context

from host.schema import metadata

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    compare_type=True,
    # SQLite alters a table only by copying it: a later revision's ALTERs run as
    # batch operations there, and autogenerate writes them that way.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
