"""The console's tables: staff accounts, their sessions, and the audit log."""
from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text

from host.schema.metadata import metadata

ROLES = ("viewer", "operator", "admin")     # each can do what the one before it can, and more

staff_users = Table(
    "staff_users", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),   # stored lower case
    Column("display_name", String(100), nullable=False),
    Column("role", String(8), nullable=False),
    Column("password_hash", String(200), nullable=False),          # scrypt$n$r$p$salt$hash (passwords.py)
    Column("failed_logins", Integer, nullable=False, default=0),   # consecutive wrong passwords
    Column("locked_until", Float),                                  # epoch seconds
    Column("disabled", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("last_login_at", Float),
)

staff_sessions = Table(
    "staff_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),   # SHA-256 of the cookie: the table alone opens nothing
    Column("user_id", ForeignKey("staff_users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    Column("ip", String(64)),
)

staff_audit = Table(
    "staff_audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("username", String(64)),          # as typed, for a failed sign-in
    Column("role", String(8)),
    Column("action", String(32), nullable=False),
    Column("target", String(200)),
    Column("detail", Text),
    Column("ip", String(64)),
    Index("ix_staff_audit_at", "at"),
)

# The sign-in throttles of several workers (host.console.throttles; one process keeps
# them in memory): a (name, address) row counts wrong passwords and holds its lock,
# an address row (name "") its failures and back-off. Rows outlive nothing important:
# a quiet window makes them stale, and they are pruned then.
signin_throttles = Table(
    "signin_throttles", metadata,
    Column("name", String(80), primary_key=True),      # "u:" + user name as typed, or "*": the address's own row
    Column("source", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure", Float, nullable=False),     # epoch seconds
    Column("until", Float),                            # locked (pair) / blocked (address) until
)
