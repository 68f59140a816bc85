"""PinPad adapter for a serial encrypting PIN pad (pyserial).

The byte protocol is in pinpad_codec; this module does the I/O in the pad's
own worker thread and hands key events to the event loop with
loop.call_soon_threadsafe. The app never sees a PIN digit: the pad reports
key kinds and counts, and returns the PIN block encrypted under the PIN key.
The one exception is an IC card's own PIN (collect_card_pin): the pad returns
its digits, which the caller hands to the card and to nothing else.
PIN blocks, card PINs and PANs are never logged."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import serial

from kiosk.devices import pinpad_codec as codec
from kiosk.devices.framing import SERIAL_ERRORS, EventPump, close_quietly
from kiosk.devices.pinpad_codec import (
    CardPinResult,
    Cmd,
    KeyEvent,
    PinOutcome,
    PinResult,
    Status,
    StatusReply,
)
from kiosk.devices.ports import KeySlot, PinKey
from kiosk.domain.errors import PinEntryCancelled, PinEntryTimeout, PinPadFault

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_R = TypeVar("_R", PinResult, CardPinResult)

POLL_S = 0.05          # how often the worker looks at the abort flag
ACK_TIMEOUT_S = 0.5    # the pad ACKs a frame at once
REPLY_TIMEOUT_S = 2.0  # ... and answers it soon after
GRACE_S = 2.0          # the pad ends its own entry timeout; we wait this much longer
SENDS = 3              # a frame is sent at most this often when NAKed


class SerialPinPad:
    """Implements kiosk.devices.ports.PinPad. The port is opened on first use
    and reopened after an I/O failure."""

    def __init__(self, port_path: str, baudrate: int = 9600, *, pin_length: int = 6,
                 reply_timeout_s: float = REPLY_TIMEOUT_S) -> None:
        self.port_path, self.baudrate, self.pin_length = port_path, baudrate, pin_length
        self._reply_timeout_s = reply_timeout_s
        self._serial: serial.Serial | None = None
        # One worker thread owns the port: exchanges run one after the other, so
        # an entry abandoned by a cancelled task is aborted on the pad before
        # the next request goes out.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="pinpad")
        self._abort = threading.Event()      # the current entry's abort flag

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        try:
            job = self._worker.submit(fn, *args)
        except RuntimeError as exc:     # the executor is shut down: close() was called
            raise PinPadFault("PIN pad is closed") from exc
        return await asyncio.wrap_future(job)

    async def load_pin_key(self, slot: KeySlot, wrapped: bytes, check_value: bytes) -> None:
        try:
            request = codec.encode_load_pin_key(slot, wrapped, check_value)
        except ValueError as exc:
            raise PinPadFault(str(exc)) from exc
        reply = await self._run(self._exchange, request, Cmd.LOAD_PIN_KEY_RESULT)
        if reply is Status.KCV_MISMATCH:
            raise PinPadFault("PIN key check value does not match")
        if reply is not Status.OK:
            raise PinPadFault(f"PIN pad refused the PIN key ({reply.name})")
        log.info("PIN pad: PIN key loaded in slot %s", slot.name)

    async def collect_pin(self, slot: KeySlot, pan: str, on_key: Callable[[PinKey, int], None],
                          timeout_s: float) -> bytes:
        request = codec.encode_start_pin(slot, pan, timeout_s, self.pin_length)
        result = await self._collect(request, PinResult, on_key, timeout_s)
        return result.block

    async def collect_card_pin(self, on_key: Callable[[PinKey, int], None], timeout_s: float,
                               min_len: int = 6, max_len: int = 6) -> str:
        """An IC card's PIN, in clear, for the card only (docs/cards.md §6)."""
        request = codec.encode_start_card_pin(timeout_s, min_len, max_len)   # ValueError: our bug
        result = await self._collect(request, CardPinResult, on_key, timeout_s)
        if not min_len <= len(result.pin) <= max_len:
            raise PinPadFault("PIN pad returned a card PIN of the wrong length")
        return result.pin

    async def _collect(self, request: bytes, result_type: type[_R],
                       on_key: Callable[[PinKey, int], None], timeout_s: float) -> _R:
        loop = asyncio.get_running_loop()

        def deliver(key: PinKey, digits: int) -> None:   # runs on the loop thread
            try:
                on_key(key, digits)
            except Exception:
                log.exception("PIN pad on_key callback failed")

        def post(key: PinKey, digits: int) -> None:      # runs in the worker thread
            try:
                loop.call_soon_threadsafe(deliver, key, digits)
            except RuntimeError:    # loop closed: nobody is listening any more
                pass

        self._abort = abort = threading.Event()
        try:
            return await self._run(self._collect_blocking, request, result_type, post, timeout_s, abort)
        except asyncio.CancelledError:
            abort.set()            # the worker aborts the entry on the pad
            raise

    async def cancel(self) -> None:
        """Abort a running PIN entry: collect_pin / collect_card_pin raise
        PinEntryCancelled."""
        self._abort.set()

    async def close(self) -> None:
        """Abort a running entry, close the port and end the worker thread."""
        self._abort.set()
        try:
            await self._run(self._close_port)
        except PinPadFault:             # closed already
            return
        self._worker.shutdown(wait=False)

    # --- worker thread -------------------------------------------------------
    def _exchange(self, request: bytes, reply_cmd: Cmd) -> Status:
        try:
            return self._link().transact(request, reply_cmd)
        except SERIAL_ERRORS as exc:
            self._close_port()
            raise PinPadFault(f"PIN pad I/O failed on {self.port_path}") from exc

    def _collect_blocking(self, request: bytes, result_type: type[_R],
                          post: Callable[[PinKey, int], None], timeout_s: float,
                          abort: threading.Event) -> _R:
        try:
            link = self._link()
            status = link.transact(request, Cmd.START_PIN_RESULT)
            if status is Status.BUSY:     # an entry left over (we crashed?): end it
                link.transact(codec.encode_abort(), Cmd.ABORT_RESULT)
                status = link.transact(request, Cmd.START_PIN_RESULT)
            if status is Status.NO_PIN_KEY:
                raise PinPadFault("no PIN key loaded in the PIN pad")
            if status is not Status.OK:
                raise PinPadFault(f"PIN pad refused to start PIN entry ({status.name})")
            result, timed_out = self._await_result(link, result_type, post, timeout_s, abort)
        except SERIAL_ERRORS as exc:
            self._close_port()
            raise PinPadFault(f"PIN pad I/O failed on {self.port_path}") from exc
        if result.outcome is PinOutcome.OK:
            return result
        if result.outcome is PinOutcome.TIMEOUT or timed_out:
            raise PinEntryTimeout("no PIN entered in time")
        raise PinEntryCancelled("PIN entry cancelled")

    def _await_result(self, link: _Link, result_type: type[_R], post: Callable[[PinKey, int], None],
                      timeout_s: float, abort: threading.Event) -> tuple[_R, bool]:
        """Relay key events until the pad's result of the kind we started
        (a result of the other kind is a leftover: skipped). On abort() or when the
        pad overstays its own timeout, send ABORT and keep waiting for the
        result (the pad may have finished in the meantime: its answer wins)."""
        deadline = time.monotonic() + timeout_s + GRACE_S
        abort_sent_at: float | None = None
        timed_out = False
        while True:
            now = time.monotonic()
            if abort_sent_at is None and (abort.is_set() or now >= deadline):
                timed_out = not abort.is_set()
                link.send(codec.encode_abort())
                abort_sent_at = now
            elif abort_sent_at is not None and now - abort_sent_at > self._reply_timeout_s:
                raise PinPadFault("PIN pad did not end the PIN entry")
            message = link.next_message(now + POLL_S)
            if isinstance(message, KeyEvent):
                post(message.key, message.digits)
            elif isinstance(message, result_type):
                return message, timed_out
            # None (nothing yet), ACK of our ABORT, its 83 reply: keep waiting

    def _link(self) -> _Link:
        if self._serial is None:
            try:
                self._serial = serial.Serial(self.port_path, self.baudrate, timeout=POLL_S,
                                             write_timeout=ACK_TIMEOUT_S)
            except (*SERIAL_ERRORS, ValueError) as exc:
                raise PinPadFault(f"cannot open PIN pad port {self.port_path}") from exc
            self._serial.reset_input_buffer()
        return _Link(self._serial, self._reply_timeout_s)

    def _close_port(self) -> None:
        port, self._serial = self._serial, None
        close_quietly(port)


class _Link(EventPump[codec.Event]):
    """Frames on the port: send with ACK/NAK retries, receive typed messages."""

    def __init__(self, port: serial.Serial, reply_timeout_s: float) -> None:
        super().__init__(port, codec.FrameDecoder())
        self.reply_timeout_s = reply_timeout_s

    def send(self, frame: bytes) -> None:
        self.port.write(frame)

    def transact(self, request: bytes, reply_cmd: Cmd) -> Status:
        """Send a request (resent on NAK), then wait for its status reply."""
        for _attempt in range(SENDS):
            self.port.write(request)
            event = self._next_link_answer(time.monotonic() + ACK_TIMEOUT_S)
            if isinstance(event, codec.Ack):
                break
            if event is None:
                raise PinPadFault("PIN pad does not answer")
        else:
            raise PinPadFault("PIN pad keeps refusing our frames")
        limit = time.monotonic() + self.reply_timeout_s
        while (message := self.next_message(limit)) is not None:
            if isinstance(message, StatusReply) and message.cmd is reply_cmd:
                return message.status
            # a stray key event or result of an earlier entry: not ours
        raise PinPadFault(f"PIN pad did not answer {Cmd(request[3]).name}")

    def _next_link_answer(self, until: float) -> codec.Ack | codec.Nak | None:
        """The pad's ACK/NAK for our frame; frames that arrive meanwhile are
        put back, in order, for whoever reads messages next."""
        held: list[codec.Event] = []
        try:
            while (event := self.next_event(until)) is not None:
                if isinstance(event, (codec.Ack, codec.Nak)):
                    return event
                held.append(event)
            return None
        finally:
            self.pending.extendleft(reversed(held))

    def next_message(self, until: float) -> codec.PadMessage | None:
        """The next well-formed pad message, or None once `until` has passed.
        Corrupt frames are skipped (a lost key event heals with the next one;
        a lost result ends in the host's deadline)."""
        while (event := self.next_event(until)) is not None:
            if isinstance(event, codec.Frame):
                try:
                    return codec.decode_pad_message(event)
                except ValueError as exc:
                    log.warning("PIN pad: bad message skipped (%s)", exc)
            elif isinstance(event, codec.FrameError):
                log.warning("PIN pad: bad frame skipped (%s)", event.reason)
        return None
