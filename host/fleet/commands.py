"""Commands from the console to kiosks, and their acknowledgements.

A command is written down when staff send it (so a host restart keeps it), is
handed to the kiosk in the reply to its next heartbeat, and again in every
reply until the kiosk acknowledges it (a lost reply loses nothing; the kiosk
runs each command id once). The kiosk reports the result in a later heartbeat;
the host records it and confirms, and only then does the kiosk forget it.
An acknowledgement counts only for the kiosk's own commands: one kiosk cannot
acknowledge another's."""
from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Engine

from common.clock import Clock
from host.db import inserted_id, write_transaction
from host.fleet.events import EventBus
from host.fleet.model import COMMANDS, Ack
from host.schema.fleet import fleet_commands

OPEN = ("queued", "delivered")


@dataclass
class Command:
    id: int
    kiosk_id: str
    token: str
    name: str
    args: dict[str, Any]
    batch: str | None
    created_by: str
    created_at: float
    status: str = "queued"
    delivered_at: float | None = None
    acked_at: float | None = None
    result: str = ""

    @property
    def open(self) -> bool:
        return self.status in OPEN

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "token": self.token, "name": self.name, "args": self.args}


def command_of_row(row: Any) -> Command:
    """A fleet_commands row as a Command."""
    return Command(row.id, row.kiosk_id, row.token, row.name, json.loads(row.args_json or "{}"), row.batch, row.created_by,
                   row.created_at, row.status, row.delivered_at, row.acked_at, row.result or "")


_ACK = update(fleet_commands).where(fleet_commands.c.id == bindparam("c_id")).values(
    status=bindparam("status"), acked_at=bindparam("acked_at"), result=bindparam("result"),
    delivered_at=bindparam("delivered_at"))
# delivered and expired only ever follow queued: a flush that runs late never
# overwrites an acknowledgement saved meanwhile
_STATE = update(fleet_commands).where(fleet_commands.c.id == bindparam("c_id"),
                                      fleet_commands.c.status == "queued").values(
    status=bindparam("status"), delivered_at=bindparam("delivered_at"))


class CommandBook:
    """Open commands in memory (by kiosk); every command in fleet_commands."""

    def __init__(self, engine: Engine, clock: Clock, bus: EventBus) -> None:
        self.engine, self.clock, self.bus = engine, clock, bus
        self._open: dict[str, list[Command]] = {}
        self._unsaved: dict[int, Command] = {}    # delivery times not yet written down

    def restore(self) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(select(fleet_commands).where(fleet_commands.c.status.in_(OPEN))
                                .order_by(fleet_commands.c.id)).all()
        for row in rows:
            command = command_of_row(row)
            self._open.setdefault(command.kiosk_id, []).append(command)

    def open_for(self, kiosk_id: str) -> list[Command]:
        return list(self._open.get(kiosk_id, ()))

    def all_open(self) -> list[Command]:
        return [c for commands in self._open.values() for c in commands]

    # --- staff send (blocking: the database) -----------------------------------------
    def create(self, kiosk_ids: Iterable[str], name: str, args: dict[str, Any], by: str) -> list[Command]:
        if name not in COMMANDS:
            raise ValueError(f"unknown command {name!r}")
        ids = list(kiosk_ids)
        batch = secrets.token_hex(6) if len(ids) > 1 else None
        now = self.clock.wall()
        args_json = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
        rows: list[dict[str, Any]] = [{"kiosk_id": k, "token": secrets.token_hex(8), "name": name, "args_json": args_json, "batch": batch, "created_by": by,
                 "created_at": now, "status": "queued"} for k in ids]
        with write_transaction(self.engine) as conn:
            if len(rows) == 1:
                pks = [inserted_id(conn.execute(insert(fleet_commands), rows[0]))]
            else:   # many kiosks: one statement, then read the ids back by batch
                conn.execute(insert(fleet_commands), rows)
                found = conn.execute(select(fleet_commands.c.id, fleet_commands.c.kiosk_id)
                                     .where(fleet_commands.c.batch == batch)).all()
                by_kiosk = {r.kiosk_id: r.id for r in found}
                pks = [by_kiosk[k] for k in ids]
        return [Command(pk, row["kiosk_id"], row["token"], name, dict(args), batch, by, now)
                for pk, row in zip(pks, rows)]

    def enqueue(self, commands: list[Command]) -> None:
        """After create, on the event loop: from now on kiosks get them."""
        for command in commands:
            self._open.setdefault(command.kiosk_id, []).append(command)
            self.bus.publish("command", command)

    # --- heartbeats -------------------------------------------------------------
    def deliver(self, kiosk_id: str) -> list[Command]:
        """Open commands for the heartbeat reply (delivered ones again: the kiosk
        may not have had the last reply)."""
        commands = self._open.get(kiosk_id)
        if not commands:
            return []
        now = self.clock.wall()
        for command in commands:
            if command.status == "queued":
                command.status, command.delivered_at = "delivered", now
                self._unsaved[command.id] = command
                self.bus.publish("command", command)
        return list(commands)

    def owned_acks(self, kiosk_id: str, acks: list[Ack]) -> list[tuple[Command, Ack]]:
        """The acknowledgements that answer this kiosk's own open commands."""
        mine = {c.id: c for c in self._open.get(kiosk_id, ())}
        return [(mine[a.command_id], a) for a in acks if a.command_id in mine]

    def save_acks(self, pairs: list[tuple[Command, Ack]]) -> float:
        """Blocking: the results, committed before the kiosk is told to forget them."""
        now = self.clock.wall()
        with write_transaction(self.engine) as conn:
            conn.execute(_ACK, [{"c_id": c.id, "status": a.status, "acked_at": now, "result": a.result[:300],
                                 "delivered_at": c.delivered_at or now} for c, a in pairs])
        return now

    def apply_acks(self, kiosk_id: str, pairs: list[tuple[Command, Ack]], at: float) -> None:
        done = {c.id for c, _ in pairs}
        for command, ack in pairs:
            command.status, command.result, command.acked_at = ack.status, ack.result, at
            command.delivered_at = command.delivered_at or at
            self._unsaved.pop(command.id, None)
            self.bus.publish("command", command)
        remaining = [c for c in self._open.get(kiosk_id, ()) if c.id not in done]
        if remaining:
            self._open[kiosk_id] = remaining
        else:
            self._open.pop(kiosk_id, None)

    # --- housekeeping (the store's flush) -------------------------------------------
    def expire(self, max_age_s: float) -> list[Command]:
        """Queued commands no kiosk picked up in time (delivered ones never expire:
        the kiosk has them)."""
        cutoff = self.clock.wall() - max_age_s
        expired = []
        for kiosk_id, commands in list(self._open.items()):
            for command in commands:
                if command.status == "queued" and command.created_at < cutoff:
                    command.status = "expired"
                    self._unsaved[command.id] = command
                    expired.append(command)
                    self.bus.publish("command", command)
            kept = [c for c in commands if c.open]
            if kept:
                self._open[kiosk_id] = kept
            else:
                del self._open[kiosk_id]
        return expired

    def take_unsaved(self) -> list[dict[str, Any]]:
        rows = [{"c_id": c.id, "status": c.status, "delivered_at": c.delivered_at} for c in self._unsaved.values()
                if c.status in ("delivered", "expired")]
        self._unsaved = {}
        return rows

    @staticmethod
    def save_states(engine: Engine, rows: list[dict[str, Any]]) -> None:
        if rows:
            with write_transaction(engine) as conn:
                conn.execute(_STATE, rows)
