"""FleetService: the heartbeat loop, the queue of staff's commands and the safe
point they wait for, out of service, and the state kept across restarts (out
of service, results not yet confirmed, results of recent commands). See the
package's docstring for how bootstrap and the UI use it."""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from kiosk.backend_client.fleet import AckStatus, CommandAck, CommandArgs, CommandOrder, FleetClient, HeartbeatReply, KioskStatus
from common.clock import Clock, SystemClock
from kiosk.domain.errors import KioskError, NotSignedOn, OutOfService
from kiosk.services.fleet.commands import CommandHandler, CommandOutcome
from kiosk.services.fleet.devices import DeviceBoard
from kiosk.services.fleet.log import LastErrorHandler
from kiosk.services.fleet.status import StatusProvider

log = logging.getLogger(__name__)

KEEP_DONE = 100          # command results remembered, so a command delivered twice runs once


class TransactionHandle:
    def __init__(self, service: FleetService) -> None:
        self._service: FleetService | None = service

    def end(self) -> None:
        """Idempotent: the transaction is over; waiting commands may run."""
        if self._service is not None:
            self._service._end_transaction()
            self._service = None


class FleetService:
    def __init__(self, client: FleetClient, status: StatusProvider | None = None, *,
                 interval_s: float = 15.0, handlers: Mapping[str, CommandHandler] | None = None,
                 state_path: Path | str | None = None, app_version: str | None = None,
                 sign_on: Callable[[], Awaitable[object]] | None = None, devices: DeviceBoard | None = None,
                 command_timeout_s: float = 60.0, capture_log: str | None = "kiosk",
                 clock: Clock | None = None) -> None:
        self.client, self.status, self.clock = client, status, clock or SystemClock()
        self.interval_s = interval_s
        self.command_timeout_s = command_timeout_s
        self.app_version = app_version or _app_version()
        self.devices = devices or DeviceBoard()
        self.screen = ""                  # the UI sets the current screen's name
        self.connected = False            # the last heartbeat was answered
        self.last_beat_at: datetime | None = None
        self._sign_on = sign_on
        self._state_path = Path(state_path) if state_path else None
        self._handlers: dict[str, CommandHandler] = {
            "out_of_service": self._cmd_out_of_service, "in_service": self._cmd_in_service}
        self._handlers.update(handlers or {})
        self._started_mono = self.clock.mono()
        self._last_error: tuple[str, str] | None = None
        self._oos = False
        self._oos_reason = ""
        self._oos_listeners: list[Callable[[bool], None]] = []
        self._pending_acks: dict[int, CommandAck] = {}        # results not yet confirmed by the host
        self._done: dict[str, CommandAck] = {}                # "id:token" -> its ack (recent ones)
        self._queued: set[str] = set()
        self._queue: asyncio.Queue[CommandOrder] = asyncio.Queue()
        self._active = 0                                          # transactions running
        self._idle = asyncio.Event()
        self._idle.set()
        self._command_running = False
        self._command_done = asyncio.Event()
        self._command_done.set()
        self._wake = asyncio.Event()
        self._beat_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._log_capture = LastErrorHandler(self.report_error) if capture_log else None
        self._log_name = capture_log or ""
        self._load_state()

    # --- life cycle ----------------------------------------------------------------
    async def start(self) -> None:
        if self._log_capture is not None:
            logging.getLogger(self._log_name).addHandler(self._log_capture)
        self._tasks = [asyncio.create_task(self._beat_loop(), name="fleet-heartbeat"),
                       asyncio.create_task(self._command_loop(), name="fleet-commands")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._log_capture is not None:
            logging.getLogger(self._log_name).removeHandler(self._log_capture)

    def register(self, name: str, handler: CommandHandler) -> None:
        self._handlers[name] = handler

    @property
    def pending_results(self) -> list[CommandAck]:
        """Command results not yet confirmed by the host (sent with every heartbeat)."""
        return list(self._pending_acks.values())

    # --- transactions and the safe point ------------------------------------------------
    @property
    def busy(self) -> bool:
        """A transaction is running."""
        return self._active > 0

    async def begin_transaction(self) -> TransactionHandle:
        """Call before asking for a card. Waits while a command runs (commands are
        short); raises OutOfService when staff took the kiosk out of service."""
        while self._command_running:
            await self._command_done.wait()
        if self._oos:
            raise OutOfService("out of service")
        self._active += 1
        self._idle.clear()
        return TransactionHandle(self)

    def _end_transaction(self) -> None:
        self._active -= 1
        if self._active == 0:
            self._idle.set()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        handle = await self.begin_transaction()
        try:
            yield
        finally:
            handle.end()

    async def _enter_safe_point(self) -> None:
        # a command or another holder of the safe point (safe_point()) goes first
        while self._active or self._command_running:
            if self._command_running:
                await self._command_done.wait()
            else:
                await self._idle.wait()
        # no await between the check and this: no transaction can slip in
        self._command_running = True
        self._command_done.clear()

    def _leave_safe_point(self) -> None:
        self._command_running = False
        self._command_done.set()

    @asynccontextmanager
    async def safe_point(self) -> AsyncIterator[None]:
        """Run work of the kiosk's own (the scheduled bank settlement) as a command
        runs: after the running transactions end, with none starting meanwhile.
        Not from inside a command's handler (it holds the safe point already)."""
        await self._enter_safe_point()
        try:
            yield
        finally:
            self._leave_safe_point()

    # --- out of service -----------------------------------------------------------
    @property
    def out_of_service(self) -> bool:
        return self._oos

    def on_out_of_service_change(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        """`callback(out_of_service)` on the event loop at every change; returns an unsubscribe."""
        self._oos_listeners.append(callback)
        return lambda: self._oos_listeners.remove(callback) if callback in self._oos_listeners else None

    def set_out_of_service(self, value: bool, reason: str = "") -> bool:
        """True if it changed. Kept across restarts."""
        if value == self._oos:
            return False
        self._oos, self._oos_reason = value, reason if value else ""
        self._save_state()
        for callback in list(self._oos_listeners):
            try:
                callback(value)
            except Exception:
                log.exception("out-of-service listener failed")
        self.beat_soon()
        return True

    async def _cmd_out_of_service(self, args: CommandArgs) -> str:
        reason = str(args.get("reason", ""))[:200]
        return "out of service" if self.set_out_of_service(True, reason) else "already out of service"

    async def _cmd_in_service(self, _: CommandArgs) -> str:
        return "back in service" if self.set_out_of_service(False) else "already in service"

    # --- errors ------------------------------------------------------------------
    def report_error(self, message: str) -> None:
        self._last_error = (self.clock.now().isoformat(timespec="seconds"), message[:300])

    # --- heartbeats --------------------------------------------------------------
    def beat_soon(self) -> None:
        """Send a heartbeat now rather than at the next tick (a result or a change to report)."""
        self._wake.set()

    async def _beat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            delay = next_at - loop.time()
            if delay > 0:
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the
                    # cancellation of stop() if the wake-up lands at the same moment
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            if loop.time() >= next_at:        # a scheduled beat (a woken one keeps the schedule)
                next_at += self.interval_s
                if next_at <= loop.time():    # fell behind (a slow host): no burst to catch up
                    next_at = loop.time() + self.interval_s
            await self.beat()

    async def report(self) -> KioskStatus:
        """The status the heartbeat carries."""
        extra: dict[str, Any] = {}
        if self.status is not None:
            try:
                extra = await self.status(busy=self.busy)
            except Exception as exc:
                log.exception("status provider failed")
                self.report_error(f"status: {type(exc).__name__}: {exc}")
        devices = {**self.devices.snapshot(), **extra.get("devices", {})}
        status: KioskStatus = {
            "app_version": self.app_version,
            "uptime_s": int(self.clock.mono() - self._started_mono),
            "screen": self.screen, "out_of_service": self._oos, "in_transaction": self.busy,
            "devices": devices, "today": extra.get("today", {}), "backlog": extra.get("backlog", {}),
            "last_error": None if self._last_error is None else
            {"at": self._last_error[0], "message": self._last_error[1]},
        }
        if extra.get("settlement") is not None:     # the last bank settlement (bank_settlement.py)
            status["settlement"] = extra["settlement"]
        return status

    async def beat(self) -> bool:
        """One heartbeat; True if the host answered. Never raises a KioskError."""
        async with self._beat_lock:   # one at a time: acknowledgements stay in order
            try:
                reply = await self._send()
            except NotSignedOn:
                if self._sign_on is None or self.busy:   # a sign-on mid-transaction would void its PIN block
                    self.connected = False
                    return False
                try:
                    await self._sign_on()
                    reply = await self._send()
                except KioskError as exc:
                    return self._failed(exc)
            except KioskError as exc:
                return self._failed(exc)
            self.connected = True
            self.last_beat_at = self.clock.now()
            self._apply(reply)
            return True

    async def _send(self) -> HeartbeatReply:
        return await self.client.heartbeat(interval_s=self.interval_s, status=await self.report(),
                                           acks=list(self._pending_acks.values()))

    def _failed(self, exc: KioskError) -> bool:
        self.connected = False
        log.info("heartbeat not answered: %s: %s", type(exc).__name__, exc.detail)
        return False

    def _apply(self, reply: HeartbeatReply) -> None:
        changed = False
        for command_id in reply.acked:
            changed |= self._pending_acks.pop(command_id, None) is not None
        for order in reply.commands:
            key = f"{order.id}:{order.token}"
            if key in self._done:        # ran already: the host has not recorded the result yet
                if order.id not in self._pending_acks:
                    self._pending_acks[order.id] = self._done[key]
                    changed = True
            elif key not in self._queued:
                self._queued.add(key)
                self._queue.put_nowait(order)
        if changed:
            self._save_state()

    # --- commands -----------------------------------------------------------------
    async def _command_loop(self) -> None:
        while True:
            order = await self._queue.get()
            try:
                await self.run_command(order)
            except Exception:
                log.exception("command %s failed outside its handler", order.name)

    async def run_command(self, order: CommandOrder) -> CommandAck:
        """Run at the next safe point; record and report the result."""
        await self._enter_safe_point()
        try:
            ack, after = await self._run_handler(order)
            key = f"{order.id}:{order.token}"
            self._done[key] = ack
            while len(self._done) > KEEP_DONE:
                self._done.pop(next(iter(self._done)))
            self._queued.discard(key)
            self._pending_acks[order.id] = ack
            self._save_state()               # before anything else: a restart must not run it again
            if after is not None:
                # still at the safe point: no transaction starts while e.g. the app restarts
                await self.beat()            # best effort; the result is also kept for after a restart
                value = after()
                if inspect.isawaitable(value):
                    await value
        finally:
            self._leave_safe_point()
        self.beat_soon()
        return ack

    async def _run_handler(self, order: CommandOrder) -> tuple[CommandAck, Callable[[], object] | None]:
        handler = self._handlers.get(order.name)
        after = None
        status: AckStatus
        if handler is None:
            status, result = "unsupported", f"this kiosk has no {order.name} command"
        else:
            try:
                async with asyncio.timeout(self.command_timeout_s):
                    outcome = await handler(dict(order.args))
                status = "done"
                if isinstance(outcome, CommandOutcome):
                    result, after = outcome.result, outcome.after_ack
                else:
                    result = outcome or "done"
            except TimeoutError:
                status, result = "failed", f"timed out after {self.command_timeout_s:g} s"
            except Exception as exc:  # noqa: BLE001 - every failure is a result staff should read
                status, result = "failed", (exc.detail if isinstance(exc, KioskError) and exc.detail
                                            else f"{type(exc).__name__}: {exc}")
        return {"id": order.id, "status": status, "result": str(result)[:300]}, after

    # --- state kept across restarts ------------------------------------------------
    def _load_state(self) -> None:
        if self._state_path is None or not self._state_path.exists():
            return
        try:
            state = json.loads(self._state_path.read_text(encoding="utf-8"))
            self._oos = bool(state.get("out_of_service", False))
            self._oos_reason = str(state.get("reason", ""))
            self._pending_acks = {int(a["id"]): a for a in state.get("pending_acks", [])}
            self._done = {str(k): v for k, v in state.get("done", [])}
        except (ValueError, KeyError, TypeError) as exc:
            log.error("fleet state %s unreadable (%s): starting afresh", self._state_path, exc)

    def _save_state(self) -> None:
        if self._state_path is None:
            return
        state = {"out_of_service": self._oos, "reason": self._oos_reason,
                 "pending_acks": list(self._pending_acks.values()), "done": list(self._done.items())}
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(state, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._state_path)


def _app_version() -> str:
    try:
        from importlib.metadata import version
        return version("estate-kiosk")
    except Exception:  # noqa: BLE001 - not installed as a package
        return "dev"
