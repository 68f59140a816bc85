"""The console's live events across workers: PostgreSQL NOTIFY / LISTEN
(docs/host.md "Several workers").

A worker that changes the fleet (a heartbeat, the offline sweep, a command
sent or acknowledged) publishes the events on its own bus (events.py) for the
pages it serves, and sends them with NOTIFY on CHANNEL in the same transaction
(PostgreSQL delivers a notification only when that transaction commits, so no
page hears of a change that was rolled back). Every worker LISTENs on a
connection of its own in a thread, and publishes what the others sent on its
own bus, so a page served by worker B hears of an alert raised on worker A.
A notification carries its sender, which ignores its own. Payloads are JSON,
well under PostgreSQL's 8,000 bytes (texts are bounded by the heartbeat's
schema). On SQLite there is one process and the bus alone is used."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from host.fleet.commands import Command
from host.fleet.events import Event
from host.fleet.registry import Alert, FleetEvent

log = logging.getLogger(__name__)

CHANNEL = "kiosk_fleet"
RECONNECT_S = 1.0


def _data(event: Event) -> Any:
    data = event.data
    if isinstance(data, (Alert, FleetEvent)):
        return {f: getattr(data, f) for f in data.__dataclass_fields__}
    if isinstance(data, Command):
        return {f: getattr(data, f) for f in Command.__dataclass_fields__}
    return None


def encode(origin: str, event: Event) -> str | None:
    data = _data(event)
    if data is None:
        return None
    return json.dumps({"o": origin, "k": event.kind, "d": data}, ensure_ascii=False, separators=(",", ":"))


_TYPES: dict[str, Callable[..., Any]] = {"alert": Alert, "cleared": Alert, "history": FleetEvent, "command": Command}


def decode(payload: str) -> tuple[str, Event] | None:
    """(sender, event), or None for what this release does not know."""
    try:
        message = json.loads(payload)
        make = _TYPES[message["k"]]
        return str(message["o"]), Event(message["k"], make(**message["d"]))
    except (ValueError, KeyError, TypeError):
        return None


def notify(conn: Connection, origin: str, events: Iterable[Event]) -> None:
    """NOTIFY the other workers, in `conn`'s transaction (sent at its commit)."""
    for event in events:
        payload = encode(origin, event)
        if payload is not None:
            conn.execute(select(func.pg_notify(CHANNEL, payload)))


class Listener:
    """LISTEN in a thread; each other worker's event handed to `deliver` on `loop`."""

    def __init__(self, engine: Engine, origin: str, loop: asyncio.AbstractEventLoop,
                 deliver: Callable[[Event], None]) -> None:
        self.url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.origin, self.loop, self.deliver = origin, loop, deliver
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.ready.set()
                    while not self._stop.is_set() and not self.loop.is_closed():
                        for note in conn.notifies(timeout=1.0):
                            got = decode(note.payload)
                            if got is not None and got[0] != self.origin and not self.loop.is_closed():
                                self.loop.call_soon_threadsafe(self.deliver, got[1])
            except Exception:  # noqa: BLE001 - the database went away: listen again after a pause
                log.warning("fleet: LISTEN connection lost; reconnecting", exc_info=True)
                self._stop.wait(RECONNECT_S)
            if self.loop.is_closed():
                return

    def close(self) -> None:
        self._stop.set()
