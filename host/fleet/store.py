"""Writing the in-memory fleet state down, and reading it back at start.

Heartbeats never wait on the database: every `flush_interval_s` the fleet hands
a snapshot of what changed (kiosk rows, history lines, command deliveries) to
a worker thread, which writes it in one transaction. A kiosk whose heartbeat
changed nothing visible is written once per `persist_seen_s` only (its last
seen time and counter), which keeps the flush small at 5,000 kiosks. A crash
loses at most that much heartbeat state, which the next heartbeats bring back
(and the replay floor after it is the last written counter, or the bank
channel's); command results are different - they are committed before the
kiosk is told they were received (see commands.py)."""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from host.db import write_transaction
from host.fleet.registry import FleetEvent, KioskRecord
from host.schema.fleet import fleet_events, fleet_kiosks

_UPDATE_KIOSK = update(fleet_kiosks).where(fleet_kiosks.c.kiosk_id == bindparam("k_id")).values(
    hb_counter=bindparam("hb_counter"), last_seen=bindparam("last_seen"), first_seen=bindparam("first_seen"),
    online_since=bindparam("online_since"), offline_since=bindparam("offline_since"),
    interval_s=bindparam("interval_s"), status_json=bindparam("status_json"))
# the same on SQLite's own driver: at hundreds of rows a flush, SQLAlchemy's
# per-row parameter handling costs more than the updates (cf. host.db.bulk_insert)
_UPDATE_KIOSK_SQLITE = (
    "UPDATE fleet_kiosks SET hb_counter = :hb_counter, last_seen = :last_seen, first_seen = :first_seen, "
    "online_since = :online_since, offline_since = :offline_since, interval_s = :interval_s, "
    "status_json = :status_json WHERE kiosk_id = :k_id")


@dataclass(frozen=True, slots=True)
class KioskSnapshot:
    """A record's fields at flush time (the status object is immutable, so it is
    serialised in the worker thread, off the event loop)."""
    kiosk_id: str
    hb_counter: int
    last_seen: float | None
    first_seen: float | None
    online_since: float | None
    offline_since: float | None
    interval_s: float
    status: Any

    @classmethod
    def of(cls, r: KioskRecord) -> KioskSnapshot:
        return cls(r.kiosk_id, r.hb_counter, r.last_seen, r.first_seen, r.online_since, r.offline_since,
                   r.interval_s, r.status)

    def row(self) -> dict[str, Any]:
        return {"k_id": self.kiosk_id, "hb_counter": self.hb_counter, "last_seen": self.last_seen,
                "first_seen": self.first_seen, "online_since": self.online_since,
                "offline_since": self.offline_since, "interval_s": self.interval_s,
                "status_json": None if self.status is None else
                json.dumps(self.status.to_json(), ensure_ascii=False, separators=(",", ":"))}


def update_kiosks(conn: Connection, kiosks: list[KioskSnapshot]) -> None:
    rows = [k.row() for k in kiosks]
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(_UPDATE_KIOSK_SQLITE, rows)
    else:
        conn.execute(_UPDATE_KIOSK, rows)


def history_rows(history: list[FleetEvent]) -> list[dict[str, Any]]:
    return [{"kiosk_id": e.kiosk_id, "at": e.at, "kind": e.kind, "subject": e.subject or None,
             "state": e.state or None, "detail": e.detail or None} for e in history]


class FleetStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def prepare(self, kiosk_ids: Iterable[str]) -> list[Any]:
        """Give every configured kiosk a row (the tables are there: create_app made
        them with every other), return the rows."""
        with write_transaction(self.engine) as conn:
            known = set(conn.execute(select(fleet_kiosks.c.kiosk_id)).scalars())
            missing = [{"kiosk_id": k, "hb_counter": 0} for k in kiosk_ids if k not in known]
            if missing and conn.dialect.name == "postgresql":   # workers starting together: one inserts
                conn.execute(pg_insert(fleet_kiosks).on_conflict_do_nothing(index_elements=["kiosk_id"]), missing)
            elif missing:
                conn.execute(insert(fleet_kiosks), missing)
            return list(conn.execute(select(fleet_kiosks)))

    def flush(self, kiosks: list[KioskSnapshot], history: list[FleetEvent],
              command_states: list[dict[str, Any]]) -> None:
        from host.fleet.commands import CommandBook
        if kiosks or history:
            with write_transaction(self.engine) as conn:
                if kiosks:
                    update_kiosks(conn, kiosks)
                if history:
                    conn.execute(insert(fleet_events), history_rows(history))
        CommandBook.save_states(self.engine, command_states)

    def history(self, kiosk_id: str, limit: int = 100) -> list[FleetEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(fleet_events).where(fleet_events.c.kiosk_id == kiosk_id)
                                .order_by(fleet_events.c.at.desc(), fleet_events.c.id.desc()).limit(limit)).all()
        return [FleetEvent(r.kiosk_id, r.at, r.kind, r.subject or "", r.state or "", r.detail or "") for r in rows]
