"""The host schema's revisions, one module each (loaded by Alembic, by file)."""
