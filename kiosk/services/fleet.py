"""The kiosk's side of remote monitoring (docs/console.md): a heartbeat every
`interval_s` seconds with the kiosk's state, and the commands staff send,
run one at a time and only at a safe point - never while a transaction runs.

What the composition root and the UI do with it:
- build it with a FleetClient, a status provider (JournalStatus) and the
  command handlers (payment_command_handlers + reload_config / restart_app),
  `await fleet.start()` after the payment service started, `await fleet.stop()`
  before closing;
- flows hold `await fleet.begin_transaction()` ... `handle.end()` (or
  `async with fleet.transaction():`) from the moment a card is asked for until
  the result is shown: commands wait for it, and it raises OutOfService when
  staff took the kiosk out of service;
- the UI subscribes with `fleet.on_out_of_service_change(callback)` and shows
  the out-of-service screen while `fleet.out_of_service`; it sets
  `fleet.screen` to the current screen's name;
- flows report device faults on `fleet.devices` (or wrap the ports with
  watch_payment_devices)."""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from kiosk.backend_client.fleet import CommandOrder, FleetClient, HeartbeatReply
from kiosk.devices.ports import CardReader, PaperStatus, PinKey, PinPad, ReceiptPrinter
from kiosk.domain.card import CardSwipe
from kiosk.domain.clock import Clock, SystemClock
from kiosk.domain.errors import (
    KioskError,
    NotSignedOn,
    PaperOut,
    PinPadFault,
    PrinterFault,
    ReaderFault,
)
from kiosk.domain.money import Money
from kiosk.domain.receipt import Receipt

log = logging.getLogger(__name__)

DEVICE_STATES = ("ok", "fault", "paper_near_end", "paper_out", "unknown")
KEEP_DONE = 100          # command results remembered, so a command delivered twice runs once


class OutOfService(KioskError):
    """Staff took the kiosk out of service: no new transaction starts."""

    message_key = "error.out_of_service"


@dataclass(frozen=True)
class CommandOutcome:
    """What a handler may return instead of a plain result text: `after_ack`
    runs once the result is written down and sent (e.g. restart the app, whose
    result must reach the host before the process goes)."""

    result: str
    after_ack: Callable[[], Awaitable[None] | None] | None = None


CommandHandler = Callable[[dict[str, Any]], Awaitable["str | CommandOutcome | None"]]


class StatusProvider(Protocol):
    async def __call__(self, *, busy: bool) -> dict[str, Any]:
        """{"today": {...}, "backlog": {...}, "devices": {...}} (any may be left out).
        `busy`: a transaction runs; do not touch the devices."""


# --- devices -----------------------------------------------------------------------
class DeviceBoard:
    """Each device's last known state, as flows and adapters report it."""

    def __init__(self) -> None:
        self._states: dict[str, tuple[str, str]] = {}

    def report(self, name: str, state: str, reason: str = "") -> None:
        if state not in DEVICE_STATES:
            raise ValueError(f"device state must be one of {', '.join(DEVICE_STATES)}")
        self._states[name] = (state, reason[:200])

    def ok(self, name: str) -> None:
        self.report(name, "ok")

    def fault(self, name: str, reason: str) -> None:
        self.report(name, "fault", reason)

    def snapshot(self) -> dict[str, dict[str, str]]:
        return {name: {"state": s, **({"reason": r} if r else {})} for name, (s, r) in self._states.items()}


@asynccontextmanager
async def _reported(board: DeviceBoard, name: str, fault: type[KioskError]) -> AsyncIterator[None]:
    """A device call: its fault type marks the device faulty, success marks it ok."""
    try:
        yield
    except fault as exc:
        board.fault(name, exc.detail)
        raise
    board.ok(name)


class WatchedCardReader:
    """A CardReader that reports its faults (and recoveries) on the board."""

    def __init__(self, inner: CardReader, board: DeviceBoard, name: str = "card_reader") -> None:
        self.inner, self.board, self.name = inner, board, name

    async def read_swipe(self, timeout_s: float) -> CardSwipe:
        async with _reported(self.board, self.name, ReaderFault):
            return await self.inner.read_swipe(timeout_s)

    async def cancel(self) -> None:
        await self.inner.cancel()

    async def close(self) -> None:
        await self.inner.close()


class WatchedPinPad:
    def __init__(self, inner: PinPad, board: DeviceBoard, name: str = "pin_pad") -> None:
        self.inner, self.board, self.name = inner, board, name

    async def load_pin_key(self, wrapped: bytes, check_value: bytes) -> None:
        async with _reported(self.board, self.name, PinPadFault):
            await self.inner.load_pin_key(wrapped, check_value)

    async def collect_pin(self, pan: str, on_key: Callable[[PinKey, int], None], timeout_s: float) -> bytes:
        async with _reported(self.board, self.name, PinPadFault):
            return await self.inner.collect_pin(pan, on_key, timeout_s)

    async def collect_card_pin(self, on_key: Callable[[PinKey, int], None], timeout_s: float,
                               min_len: int = 6, max_len: int = 6) -> str:
        async with _reported(self.board, self.name, PinPadFault):
            return await self.inner.collect_card_pin(on_key, timeout_s, min_len, max_len)

    async def cancel(self) -> None:
        await self.inner.cancel()

    async def close(self) -> None:
        await self.inner.close()


class WatchedPrinter:
    def __init__(self, inner: ReceiptPrinter, board: DeviceBoard, name: str = "printer") -> None:
        self.inner, self.board, self.name = inner, board, name

    async def prepare(self) -> None:
        await self.inner.prepare()

    async def paper_status(self) -> PaperStatus:
        try:
            status = await self.inner.paper_status()
        except PrinterFault as exc:
            self.board.fault(self.name, exc.detail)
            raise
        self.board.report(self.name, paper_state(status))
        return status

    async def print_receipt(self, receipt: Receipt) -> None:
        try:
            await self.inner.print_receipt(receipt)
        except PaperOut as exc:
            self.board.report(self.name, "paper_out", exc.detail)
            raise
        except PrinterFault as exc:
            self.board.fault(self.name, exc.detail)
            raise

    async def close(self) -> None:
        await self.inner.close()


def paper_state(status: PaperStatus) -> str:
    return {PaperStatus.OK: "ok", PaperStatus.NEAR_END: "paper_near_end", PaperStatus.OUT: "paper_out"}[status]


def watch_payment_devices(payments: Any, board: DeviceBoard) -> None:
    """Wrap a PaymentService's card reader, PIN pad and printer in place."""
    payments.reader = WatchedCardReader(payments.reader, board)
    payments.pinpad = WatchedPinPad(payments.pinpad, board)
    payments.printer = WatchedPrinter(payments.printer, board)


# --- the standard status provider -----------------------------------------------------
class JournalStatus:
    """Today's figures and the upload backlog from the journal; the printer's
    paper, asked between transactions only (a receipt may be printing)."""

    PRINTER_TIMEOUT_S = 3.0

    def __init__(self, journal: Any, printer: ReceiptPrinter | None = None, *,
                 now: Callable[[], datetime]) -> None:
        self.journal, self.printer, self.now = journal, printer, now
        self._printer_state: dict[str, str] = {"state": "unknown"}

    async def __call__(self, *, busy: bool) -> dict[str, Any]:
        now = self.now()
        report: dict[str, Any] = {"today": self.journal.day_figures(now.date().isoformat()),
                                  "backlog": self.journal.backlog_figures(now)}
        if self.printer is not None:
            if not busy:
                self._printer_state = await self._ask_printer()
            report["devices"] = {"printer": self._printer_state}
        return report

    async def _ask_printer(self) -> dict[str, str]:
        assert self.printer is not None
        try:
            async with asyncio.timeout(self.PRINTER_TIMEOUT_S):
                status = await self.printer.paper_status()
        except TimeoutError:
            return {"state": "fault", "reason": "no answer"}
        except PrinterFault as exc:
            return {"state": "fault", "reason": exc.detail[:200]}
        return {"state": paper_state(status)}


# --- the payment service's commands ---------------------------------------------------
def printer_test_receipt(estate: str, kiosk_id: str, when: datetime) -> Receipt:
    return Receipt(estate=estate, kiosk_id=kiosk_id, when=when, house_no="", items=(), total=Money(0),
                   masked_pan="", txn_id=f"TEST-{when:%Y%m%d%H%M%S}", reference="", auth_code="",
                   title="测试凭条 / TEST RECEIPT", extra=("打印机测试，非交易凭条", "Printer test - not a payment"))


def payment_command_handlers(payments: Any) -> dict[str, CommandHandler]:
    """upload_journal (send pending reversals and backup copies now) and
    print_test (a test receipt), over a PaymentService."""

    async def upload_journal(_: dict[str, Any]) -> str:
        before = len(payments.journal.in_state("reversing")) + len(payments.journal.unsent_backups())
        if not await payments.settle_once():
            left = len(payments.journal.in_state("reversing")) + len(payments.journal.unsent_backups())
            raise RuntimeError(f"the host did not take everything: {left} item(s) still waiting")
        return f"uploaded {before} item(s); nothing waiting"

    async def print_test(_: dict[str, Any]) -> str:
        await payments.printer.print_receipt(printer_test_receipt(payments.estate, payments.kiosk_id, payments.now()))
        return "test receipt printed"

    return {"upload_journal": upload_journal, "print_test": print_test}


# --- last error -------------------------------------------------------------------
class _LastError(logging.Handler):
    """Keeps the kiosk's latest warning or error log line for the heartbeat."""

    def __init__(self, service: FleetService) -> None:
        super().__init__(logging.WARNING)
        self.service = service

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(__name__):
            return       # the heartbeat's own trouble shows as offline on the console
        try:
            self.service.report_error(record.getMessage())
        except Exception:  # noqa: BLE001 - logging must never raise: the standard way to say so
            self.handleError(record)


# --- the service ------------------------------------------------------------------
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
                 sign_on: Callable[[], Awaitable[Any]] | None = None, devices: DeviceBoard | None = None,
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
        self._pending_acks: dict[int, dict[str, Any]] = {}        # results not yet confirmed by the host
        self._done: dict[str, dict[str, Any]] = {}                # "id:token" -> its ack (recent ones)
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
        self._log_capture = _LastError(self) if capture_log else None
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
    def pending_results(self) -> list[dict[str, Any]]:
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
        while self._active:
            await self._idle.wait()
        # no await between the check and this: no transaction can slip in
        self._command_running = True
        self._command_done.clear()

    def _leave_safe_point(self) -> None:
        self._command_running = False
        self._command_done.set()

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

    async def _cmd_out_of_service(self, args: dict[str, Any]) -> str:
        reason = str(args.get("reason", ""))[:200]
        return "out of service" if self.set_out_of_service(True, reason) else "already out of service"

    async def _cmd_in_service(self, _: dict[str, Any]) -> str:
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

    async def report(self) -> dict[str, Any]:
        """The status the heartbeat carries."""
        extra: dict[str, Any] = {}
        if self.status is not None:
            try:
                extra = await self.status(busy=self.busy)
            except Exception as exc:
                log.exception("status provider failed")
                self.report_error(f"status: {type(exc).__name__}: {exc}")
        devices = {**self.devices.snapshot(), **extra.get("devices", {})}
        return {
            "app_version": self.app_version,
            "uptime_s": int(self.clock.mono() - self._started_mono),
            "screen": self.screen, "out_of_service": self._oos, "in_transaction": self.busy,
            "devices": devices, "today": extra.get("today", {}), "backlog": extra.get("backlog", {}),
            "last_error": None if self._last_error is None else
            {"at": self._last_error[0], "message": self._last_error[1]},
        }

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

    async def run_command(self, order: CommandOrder) -> dict[str, Any]:
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

    async def _run_handler(self, order: CommandOrder) -> tuple[dict[str, Any], Callable[[], Any] | None]:
        handler = self._handlers.get(order.name)
        after = None
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
