"""The fleet as one object: heartbeats in, commands out, offline detection,
alerts, and the background pass that sweeps and writes things down.

Everything here runs on the server's event loop (heartbeats are in-memory
work, ~0.2 ms each); the database is touched in worker threads only for what
is rare (a kiosk's key after a sign-on, command results, staff commands) or
batched (the periodic flush)."""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from host.bank.security import BadRequest, Reply, encode, mac_ok, read_envelope
from host.config import HostSettings
from common.clock import Clock, SystemClock
from host.fleet.commands import Command, CommandBook
from host.fleet.events import Event, EventBus
from host.fleet.keys import KeyCache
from host.fleet.model import Ack, BadHeartbeat, KioskStatus, parse_acks, parse_interval, parse_status
from host.fleet.relay import Listener
from host.fleet.shared import SharedFleet
from host.fleet.registry import FleetEvent, FleetRegistry
from host.config.fleet import FleetSettings
from host.fleet.store import FleetStore, KioskSnapshot
from host.workers import WorkerRole
from common.crypto import mac_x919

log = logging.getLogger(__name__)
T = TypeVar("T")
LISTEN_WAIT_S = 2.0      # a console page waits this long at most for its worker's LISTEN
# several workers: heartbeat transactions in flight per worker, below the engine's
# pool_size (host.db): more would open and close overflow connections (a
# PostgreSQL backend started per heartbeat) and crowd the GIL with threads
SHARED_HEARTBEATS_AT_ONCE = 8


def _reply(status: int, body: dict[str, Any], key: bytes | None = None) -> Reply:
    raw = encode(body)
    return Reply(status, raw, mac_x919(key, raw).hex().upper() if key is not None else None)


HEARTBEAT_PATH = "/api/v1/fleet/heartbeat"   # the one endpoint a heartbeat's MAC is good for


def _error(status: int, code: str, message: str, key: bytes | None = None) -> Reply:
    return _reply(status, {"error": code, "message": message}, key)


class Fleet:
    def __init__(self, settings: HostSettings, engine: Engine, *, fleet_settings: FleetSettings | None = None,
                 clock: Clock | None = None, worker: WorkerRole | None = None) -> None:
        self.engine = engine
        self.worker = worker      # one of several processes: the state is shared (host.fleet.shared)
        self.settings = fleet_settings or getattr(settings, "fleet", None) or FleetSettings()
        self.clock = clock or SystemClock()
        self.bus = EventBus()
        tmks = dict(settings.kiosks)          # a dict: the settings' own lookup is a linear scan
        self.kiosk_ids = sorted(tmks)
        self.keys = KeyCache(engine, tmks)
        self.registry = FleetRegistry(self.settings, self.kiosk_ids, self.clock, self.bus)
        self.commands = CommandBook(engine, self.clock, self.bus)
        self.store = FleetStore(engine)
        for row in self.store.prepare(self.kiosk_ids):
            self.registry.restore(row)
        # several workers: the database is the fleet's state (host.fleet.shared); open
        # commands then live in their rows only, never in this process's CommandBook
        self.shared = None if worker is None else \
            SharedFleet(engine, self.settings, self.clock, origin=f"{worker.index}/{os.getpid()}")
        self._listener: Listener | None = None
        if self.shared is None:
            self.commands.restore()
        self._inline_db = engine.dialect.name == "sqlite"   # point reads on SQLite: cheaper than a thread hop
        self._task: asyncio.Task[None] | None = None
        self._flush_lock: asyncio.Lock | None = None
        self._beat_slots: asyncio.Semaphore | None = None
        self._last_flush = self.clock.mono()

    # --- background: sweep, live tick, flush ---------------------------------------
    def ensure_running(self) -> None:
        """Start the background pass on the serving loop (the host runs without
        ASGI lifespan events, so the first request starts it; a restarted server
        gets a new one)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._flush_lock = asyncio.Lock()
            self._beat_slots = asyncio.Semaphore(SHARED_HEARTBEATS_AT_ONCE)
            self._task = loop.create_task(self._background(), name="fleet-background")
            if self.shared is not None and self.engine.dialect.name == "postgresql":
                if self._listener is not None:
                    self._listener.close()
                self._listener = Listener(self.engine, self.shared.origin, loop, self._from_other_worker)

    async def ready(self) -> None:
        """Before a console page: running, and with several workers caught up with the database."""
        self.ensure_running()
        if self._listener is not None and not self._listener.ready.is_set():   # a page's events from now on
            await run_in_threadpool(self._listener.ready.wait, LISTEN_WAIT_S)
        if self.shared is not None:
            await self.sync()

    async def sync(self) -> None:
        """Shared mode: take in the rows other workers (or the sweep) changed."""
        assert self.shared is not None
        known = {k: (r.hb_counter, r.offline_since) for k, r in self.registry.records.items()}
        for row in await self._db(self.shared.changed_rows, known):
            self.registry.reload(row)

    def close(self) -> None:
        """Stop listening for the other workers' events (a stopping worker, a test)."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _from_other_worker(self, event: Event) -> None:
        self.bus.publish(event.kind, event.data)

    async def _background(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                await self.tick()
            except Exception:
                log.exception("fleet background pass failed")

    async def tick(self) -> None:
        if self.shared is not None:
            await self._shared_tick()
            return
        self.registry.sweep()
        changed, seen = self.registry.take_changes()
        if changed or seen:
            self.bus.publish("rows", (changed, seen))
        if self.clock.mono() - self._last_flush >= self.settings.flush_interval_s:
            self.commands.expire(self.settings.command_expiry_s)
            await self.flush()

    async def _shared_tick(self) -> None:
        """Several workers: catch up, and in worker 0 the offline sweep and command expiry."""
        assert self.shared is not None and self.worker is not None
        await self.sync()
        if self.worker.sweeps:
            events = await self._db(self.shared.sweep)
            if self.clock.mono() - self._last_flush >= self.settings.flush_interval_s:
                self._last_flush = self.clock.mono()
                events += await self._db(self.shared.expire, self.settings.command_expiry_s)
            for event in events:
                self.bus.publish(event.kind, event.data)
            if events:
                await self.sync()
        changed, seen = self.registry.take_changes()
        if changed or seen:
            self.bus.publish("rows", (changed, seen))

    async def flush(self) -> None:
        """Write down what changed (in a worker thread)."""
        lock = self._flush_lock or asyncio.Lock()
        async with lock:
            self._last_flush = self.clock.mono()
            kiosks = [KioskSnapshot.of(r) for r in self.registry.take_dirty(seen_every_s=self.settings.persist_seen_s)]
            history = self.registry.take_history()
            states = self.commands.take_unsaved()
            try:
                if kiosks or history or states:
                    await run_in_threadpool(self.store.flush, kiosks, history, states)
            finally:
                self.registry.written()

    def history(self, kiosk_id: str, limit: int = 100) -> list[FleetEvent]:
        """A kiosk's history, newest first: what is not written down yet, then the store's (blocking).
        The pending lines are read first: a batch committed in between is then in both, shown once."""
        pending = self.registry.pending_history(kiosk_id)[::-1]
        stored = self.store.history(kiosk_id, limit)
        return ([e for e in pending if e not in stored] + stored)[:limit]

    def flush_blocking(self) -> None:
        """For a host that stops outside the loop (tests, CLI)."""
        kiosks = [KioskSnapshot.of(r) for r in self.registry.take_dirty()]
        try:
            self.store.flush(kiosks, self.registry.take_history(), self.commands.take_unsaved())
        finally:
            self.registry.written()

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args) if self._inline_db else await run_in_threadpool(fn, *args)

    # --- heartbeats -------------------------------------------------------------
    async def heartbeat(self, raw: bytes, mac_header: str | None) -> Reply:
        """POST /api/v1/fleet/heartbeat: the checks of docs/console.md, in order."""
        self.ensure_running()
        try:
            body, kiosk_id, counter = read_envelope(raw)
        except BadRequest as exc:
            return _error(400, "bad_request", str(exc))
        if kiosk_id not in self.keys.tmks:
            return _error(401, "unknown_kiosk", "this kiosk is not in the host's fleet")

        hint = body.get("key_version")
        hint = hint if isinstance(hint, int) and not isinstance(hint, bool) else None
        key = self.keys.cached(kiosk_id)
        if self.keys.wants_reload(kiosk_id, hint) or (key is not None and key.mak is None and self.keys.may_reload(kiosk_id)):
            key = await self._db(self.keys.load, kiosk_id)
        if key is None or key.mak is None:
            return _error(401, "not_signed_on", "sign on first (POST /api/v1/bank/sign-on)")
        if not mac_ok(key.mak, HEARTBEAT_PATH, raw, mac_header):
            if self.keys.may_reload(kiosk_id):      # perhaps a sign-on we have not seen yet
                key = await self._db(self.keys.load, kiosk_id)
            if key.mak is None:
                return _error(401, "not_signed_on", "sign on first (POST /api/v1/bank/sign-on)")
            if not mac_ok(key.mak, HEARTBEAT_PATH, raw, mac_header):
                return _error(401, "bad_mac", "the message MAC does not verify", key.mak)
        mak = key.mak
        floor = self.registry.counter_floor(kiosk_id) or key.bank_counter
        if counter <= floor:       # (several workers: this one's floor may be behind; the database decides)
            return _error(409, "replay", f"counter {counter} is not above the last accepted {floor}", mak)
        # (a NUL or lone surrogate in a free text is kept as U+FFFD by the model, not
        # refused: a refused heartbeat would show the kiosk offline, and an acknowledgement
        # holding one would be resent, and refused, forever)
        if body.get("type") != "heartbeat":
            return _error(400, "bad_request", 'type must be "heartbeat"', mak)
        try:
            status = parse_status(body.get("status"))
            interval = parse_interval(body.get("interval_s", self.settings.default_interval_s))
            acks = parse_acks(body.get("acks"))
        except BadHeartbeat as exc:
            return _error(400, "bad_request", str(exc), mak)
        if self.shared is not None and mak is not None:
            return await self._shared_heartbeat(kiosk_id, counter, key.bank_counter, status, interval, acks, mak)
        self.registry.records[kiosk_id].hb_counter = counter   # before any await: a replay racing us is refused

        owned = self.commands.owned_acks(kiosk_id, acks)
        if owned:
            at = await run_in_threadpool(self.commands.save_acks, owned)   # committed before we confirm
            self.commands.apply_acks(kiosk_id, owned, at)
        self.registry.accept(kiosk_id, counter, status, interval)
        commands = self.commands.deliver(kiosk_id)
        return _reply(200, {"acked": [a.command_id for a in acks], "commands": [c.wire() for c in commands]}, mak)

    async def _shared_heartbeat(self, kiosk_id: str, counter: int, bank_floor: int, status: KioskStatus,
                                interval: float, acks: list[Ack], mak: bytes) -> Reply:
        assert self.shared is not None and self._beat_slots is not None
        async with self._beat_slots:
            beat = await self._db(self.shared.heartbeat, kiosk_id, counter, bank_floor, status, interval, acks)
        if beat.record is None:
            return _error(409, "replay", f"counter {counter} is not above the last accepted {beat.floor}", mak)
        self.registry.replace(beat.record)
        for event in beat.events:
            self.bus.publish(event.kind, event.data)
        return _reply(200, {"acked": [a.command_id for a in acks], "commands": [c.wire() for c in beat.commands]},
                      mak)

    # --- staff ------------------------------------------------------------------
    async def send(self, kiosk_ids: list[str], name: str, args: dict[str, Any], by: str) -> list[Command]:
        unknown = [k for k in kiosk_ids if k not in self.keys.tmks]
        if unknown:
            raise ValueError(f"not in the fleet: {', '.join(unknown[:5])}")
        commands = await run_in_threadpool(self.commands.create, kiosk_ids, name, args, by)
        if self.shared is None:
            self.commands.enqueue(commands)
            return commands
        events = [Event("command", c) for c in commands]     # rows only: any worker delivers them
        for event in events:
            self.bus.publish(event.kind, event.data)
        await run_in_threadpool(self.shared.announce, events)
        return commands
