"""The fleet shared by several workers (host.workers; docs/host.md "Several workers").

One process keeps the fleet in memory and writes it down every few seconds
(store.py). With several workers a kiosk's heartbeats land on any of them, so
in shared mode the database is the fleet's state and each worker's registry
is a cache of it, for the console:

- a heartbeat is one transaction: its counter is accepted by a conditional
  UPDATE (`hb_counter < :c`, a row returned: two workers never both accept one),
  which also locks the kiosk's row and returns its previous state (RETURNING:
  one round trip); the change is judged by the same registry code as in one
  process (on a scratch registry of that one kiosk), and the row, its history lines,
  acknowledgements and the delivery of queued commands are written, all
  before the reply;
- a command is claimed for delivery by `UPDATE … WHERE status = 'queued'`
  in that transaction (the kiosk's row lock orders its heartbeats; expiry
  uses the same condition), so it is handed over once whichever worker the
  heartbeat reaches;
- offline detection and command expiry run in worker 0 only, each change by
  a conditional UPDATE;
- a worker's registry catches up with the rows (`sync`) on every tick and
  before a console page is rendered. On PostgreSQL by a change cursor: every
  write of a row sets `changed_xid` to its transaction's id, and a catch-up
  reads the rows with `changed_xid >= horizon`, the horizon being the oldest
  transaction still running when the previous catch-up began (its snapshot's
  xmin): whatever committed before is in that read, whatever was running is
  read again next time; rows this worker holds already are skipped. The first
  catch-up (and SQLite, tests only) is a light scan of counters and offline
  times of all rows, then the changed rows in full;
- what a live page shows at once (alerts, history lines, commands) goes to
  the other workers by NOTIFY (relay.py), sent in the same transaction."""
from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, insert, literal_column, or_, select, text, update
from sqlalchemy.engine import Connection, Engine

from common.clock import Clock
from host.config.fleet import FleetSettings
from host.db import write_transaction
from host.fleet.commands import OPEN, Command, command_of_row
from host.fleet.events import Event, EventBus
from host.fleet.model import Ack, KioskStatus
from host.fleet.registry import Alert, FleetEvent, FleetRegistry, KioskRecord
from host.fleet.relay import notify
from host.fleet.store import KioskSnapshot, history_rows, update_kiosks
from host.schema.fleet import fleet_commands, fleet_events, fleet_kiosks

_K = fleet_kiosks.c
_C = fleet_commands.c
# the counter's acceptance: above the fleet's floor, or, before the kiosk's first
# heartbeat (floor 0), above the bank channel's counter (as in one process)
_COUNTER = bindparam("counter", type_=BigInteger)
_ACCEPT = update(fleet_kiosks).where(
    _K.kiosk_id == bindparam("k_id"), _K.hb_counter < _COUNTER,
    or_(_K.hb_counter > 0, bindparam("bank", type_=BigInteger) < _COUNTER)).values(hb_counter=_COUNTER) \
    .returning(*fleet_kiosks.c)       # the row as it was, but for the counter: no SELECT after it
# PostgreSQL: the row's change stamp for the workers' cursor (one id per transaction)
_XID = literal_column("pg_current_xact_id()::text::bigint", BigInteger)
_ACCEPT_PG = _ACCEPT.values(changed_xid=_XID)
_HORIZON = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
_LIGHT = select(_K.kiosk_id, _K.hb_counter, _K.offline_since)
_CLAIM = update(fleet_commands).where(_C.id == bindparam("c_id"), _C.status == "queued") \
    .values(status="delivered", delivered_at=bindparam("at"))
_ACK = update(fleet_commands).where(_C.id == bindparam("c_id"), _C.kiosk_id == bindparam("k_id"),
                                    _C.status.in_(OPEN)) \
    .values(status=bindparam("status"), acked_at=bindparam("at"), result=bindparam("result"),
            delivered_at=bindparam("delivered_at"))


class _Collect(EventBus):
    """The scratch registry's bus: keeps what it would publish, to publish after commit."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def publish(self, kind: str, data: Any = None) -> None:
        self.events.append(Event(kind, data))


@dataclass
class Beat:
    """A heartbeat's outcome: `floor` set when it was a replay."""
    floor: int | None = None
    record: KioskRecord | None = None
    commands: list[Command] = field(default_factory=list)     # for the reply
    events: list[Event] = field(default_factory=list)         # for the live pages


class SharedFleet:
    def __init__(self, engine: Engine, settings: FleetSettings, clock: Clock, origin: str) -> None:
        self.engine, self.settings, self.clock, self.origin = engine, settings, clock, origin
        self._pg = engine.dialect.name == "postgresql"
        self._horizon: int | None = None      # the change cursor (PostgreSQL): None until the first scan
        self._catching_up = threading.Lock()  # a tick's and a page's catch-up: one at a time, in order

    def _notify(self, conn: Connection, events: Iterable[Event]) -> None:
        if conn.dialect.name == "postgresql":
            notify(conn, self.origin, events)

    # --- a heartbeat (blocking: one transaction) -----------------------------------
    def heartbeat(self, kiosk_id: str, counter: int, bank_floor: int, status: KioskStatus, interval_s: float,
                  acks: list[Ack]) -> Beat:
        with write_transaction(self.engine) as conn:
            row = conn.execute(_ACCEPT_PG if self._pg else _ACCEPT,
                               {"k_id": kiosk_id, "counter": counter, "bank": bank_floor}).first()
            if row is None:       # refused: a replay, or not above the bank channel's counter
                floor = conn.execute(select(_K.hb_counter).where(_K.kiosk_id == kiosk_id)).scalar_one()
                return Beat(floor=int(floor) or bank_floor)
            bus = _Collect()
            scratch = FleetRegistry(self.settings, [kiosk_id], self.clock, bus)
            scratch.restore(row)
            scratch.accept(kiosk_id, counter, status, interval_s)
            record = scratch.records[kiosk_id]
            update_kiosks(conn, [KioskSnapshot.of(record)])
            history = scratch.take_history()
            if history:
                conn.execute(insert(fleet_events), history_rows(history))
            events = list(bus.events)
            now = self.clock.wall()
            events += [Event("command", c) for c in self._acks(conn, kiosk_id, acks, now)]
            commands, delivered = self._deliver(conn, kiosk_id, now)
            events += [Event("command", c) for c in delivered]
            self._notify(conn, events)
        record.dirty = record.changed = False
        return Beat(None, record, commands, events)

    def _acks(self, conn: Connection, kiosk_id: str, acks: list[Ack], now: float) -> list[Command]:
        """The kiosk's acknowledgements of its own open commands, recorded."""
        if not acks:
            return []
        rows = {r.id: r for r in conn.execute(select(fleet_commands).where(
            _C.id.in_([a.command_id for a in acks]), _C.kiosk_id == kiosk_id, _C.status.in_(OPEN)))}
        done = []
        for ack in acks:
            row = rows.pop(ack.command_id, None)
            if row is None:
                continue
            conn.execute(_ACK, {"c_id": row.id, "k_id": kiosk_id, "status": ack.status, "at": now,
                                "result": ack.result[:300], "delivered_at": row.delivered_at or now})
            command = command_of_row(row)
            command.status, command.result, command.acked_at = ack.status, ack.result, now
            command.delivered_at = command.delivered_at or now
            done.append(command)
        return done

    def _deliver(self, conn: Connection, kiosk_id: str, now: float) -> tuple[list[Command], list[Command]]:
        """(every open command for the reply, those delivered just now). A queued
        one is claimed by a conditional UPDATE: expired meanwhile, it is not sent."""
        commands, delivered = [], []
        for row in conn.execute(select(fleet_commands).where(_C.kiosk_id == kiosk_id, _C.status.in_(OPEN))
                                .order_by(_C.id)):
            command = command_of_row(row)
            if command.status == "queued":
                if conn.execute(_CLAIM, {"c_id": command.id, "at": now}).rowcount != 1:
                    continue
                command.status, command.delivered_at = "delivered", now
                delivered.append(command)
            commands.append(command)
        return commands, delivered

    # --- catching up (blocking) -------------------------------------------------
    def changed_rows(self, known: dict[str, tuple[int, float | None]]) -> list[Any]:
        """The fleet_kiosks rows whose counter or offline time differs from `known`."""
        with self._catching_up, self.engine.connect() as conn:
            if self._pg:
                horizon = int(conn.execute(_HORIZON).scalar_one())   # before the read: see the docstring above
                if self._horizon is not None:
                    since = conn.execute(select(fleet_kiosks).where(_K.changed_xid >= self._horizon)).all()
                    self._horizon = horizon
                    return [r for r in since if (int(r.hb_counter or 0), r.offline_since) != known.get(r.kiosk_id)]
                self._horizon = horizon
            ids = [r.kiosk_id for r in conn.execute(_LIGHT)
                   if (int(r.hb_counter or 0), r.offline_since) != known.get(r.kiosk_id)]
            rows: list[Any] = []
            for start in range(0, len(ids), 500):
                rows += conn.execute(select(fleet_kiosks).where(_K.kiosk_id.in_(ids[start:start + 500]))).all()
        return rows

    # --- worker 0's housekeeping (blocking) -----------------------------------------
    def sweep(self) -> list[Event]:
        """Declare offline the kiosks whose heartbeats stopped: each by a conditional
        UPDATE (still online, not heard from since it was read)."""
        now = self.clock.wall()
        missed = self.settings.missed_heartbeats
        with self.engine.connect() as conn:
            # a wide net in SQL (no tolerance), the exact deadline below
            overdue = conn.execute(select(_K.kiosk_id, _K.last_seen, _K.interval_s).where(
                _K.offline_since.is_(None), _K.last_seen.is_not(None),
                _K.last_seen + _K.interval_s * missed < now)).all()
        events: list[Event] = []
        for row in overdue:
            interval = row.interval_s or self.settings.default_interval_s
            since = row.last_seen + missed * interval + min(interval / 2, 2.0)
            if since > now:
                continue
            with write_transaction(self.engine) as conn:
                offline = update(fleet_kiosks).where(
                    _K.kiosk_id == row.kiosk_id, _K.offline_since.is_(None), _K.last_seen == row.last_seen) \
                    .values(offline_since=since)
                done = conn.execute(offline.values(changed_xid=_XID) if self._pg else offline).rowcount
                if done != 1:
                    continue
                line = FleetEvent(row.kiosk_id, since, "offline", detail=str(round(since - row.last_seen)))
                conn.execute(insert(fleet_events), history_rows([line]))
                mine = [Event("history", line), Event("alert", Alert(row.kiosk_id, "offline", "", since))]
                self._notify(conn, mine)
            events += mine
        return events

    def expire(self, max_age_s: float) -> list[Event]:
        """Queued commands no kiosk picked up in time (conditional: a delivery wins)."""
        cutoff = self.clock.wall() - max_age_s
        with write_transaction(self.engine) as conn:
            rows = conn.execute(select(fleet_commands).where(_C.status == "queued", _C.created_at < cutoff)).all()
            events = []
            for row in rows:
                if conn.execute(update(fleet_commands).where(and_(_C.id == row.id, _C.status == "queued"))
                                .values(status="expired")).rowcount == 1:
                    command = command_of_row(row)
                    command.status = "expired"
                    events.append(Event("command", command))
            self._notify(conn, events)
        return events

    def announce(self, events: list[Event]) -> None:
        """Tell the other workers (a command sent from this one)."""
        if self.engine.dialect.name == "postgresql" and events:
            with self.engine.begin() as conn:
                notify(conn, self.origin, events)
