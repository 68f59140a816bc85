"""The fleet's tables. The live state is kept in memory (a heartbeat costs no
database transaction); these hold what must outlive the process: each kiosk's
last report and heartbeat counter, the history of changes, and the commands."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from host.schema.metadata import metadata

fleet_kiosks = Table(
    "fleet_kiosks", metadata,
    Column("kiosk_id", String(32), primary_key=True),
    Column("hb_counter", BigInteger, nullable=False, default=0),  # last accepted heartbeat counter
    Column("last_seen", Float),               # epoch seconds of the last heartbeat
    Column("first_seen", Float),
    Column("online_since", Float),
    Column("offline_since", Float),           # when it was declared offline (None while online)
    Column("interval_s", Float),
    Column("status_json", Text),              # the last report, as validated
    # several workers on PostgreSQL: the transaction that last changed the row
    # (pg_current_xact_id()), the workers' change cursor (host.fleet.shared); NULL otherwise
    Column("changed_xid", BigInteger),
    Index("ix_fleet_kiosks_changed_xid", "changed_xid"),
)

fleet_events = Table(
    "fleet_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("kiosk_id", String(32), nullable=False),
    Column("at", Float, nullable=False),      # epoch seconds
    Column("kind", String(16), nullable=False),   # online | offline | device | error | service | alert | cleared | version
    Column("subject", String(32)),            # device name or alert kind
    Column("state", String(32)),
    Column("detail", Text),                   # reason, message, away time ... (plain text)
    Index("ix_fleet_events_kiosk_at", "kiosk_id", "at"),
)

fleet_commands = Table(
    "fleet_commands", metadata,
    Column("id", Integer, primary_key=True),
    Column("kiosk_id", String(32), nullable=False),
    Column("token", String(16), nullable=False),   # random: a kiosk tells a new command from an old one
    Column("name", String(24), nullable=False),
    Column("args_json", Text, nullable=False, default="{}"),
    Column("batch", String(32)),              # one id for a command sent to every kiosk
    Column("created_by", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    # queued -> delivered -> done | failed | unsupported; queued -> expired
    Column("status", String(12), nullable=False),
    Column("delivered_at", Float),
    Column("acked_at", Float),
    Column("result", String(300)),
    Index("ix_fleet_commands_kiosk", "kiosk_id", "id"),
    Index("ix_fleet_commands_status", "status"),
)
