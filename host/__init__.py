"""Reference property host: bills from meter readings, served to the kiosks.

Starlette (ASGI) + SQLAlchemy Core; SQLite by default, PostgreSQL for a site.
See docs/host.md and docs/host-api.md (the wire contract).
"""
