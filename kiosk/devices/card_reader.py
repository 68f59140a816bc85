"""CardReader adapter for a serial magnetic-stripe reader (pyserial).

The byte protocol is in msr_codec; this module only does the I/O: open the
port, arm, wait for one swipe, disarm. Blocking pyserial calls run in the
reader's own worker thread, never on the event loop. Track data is never
logged: only events and frame errors are."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import serial

from kiosk.devices.framing import SERIAL_ERRORS, EventPump, close_quietly

from kiosk.devices import msr_codec as codec
from kiosk.devices.msr_codec import CardData, Command, FrameError, TrackStatus
from common.bank_card import CardSwipe, parse_track2
from common.errors import BadSwipe
from kiosk.domain.errors import ReaderFault, SwipeTimeout

log = logging.getLogger(__name__)

POLL_S = 0.05          # how often the worker looks at the cancel flag and deadline
ACK_TIMEOUT_S = 1.0    # reader must answer a command within this


class _Cancelled(Exception):
    pass


class SerialCardReader:
    """Implements kiosk.devices.ports.CardReader.

    The port is opened on first use (in the worker thread) and reopened after an
    I/O failure, so a reader that was unplugged and plugged back works again."""

    def __init__(self, port_path: str, baudrate: int = 9600, *,
                 ack_timeout_s: float = ACK_TIMEOUT_S) -> None:
        self.port_path, self.baudrate = port_path, baudrate
        self._ack_timeout_s = ack_timeout_s
        self._serial: serial.Serial | None = None
        # One worker thread owns the port: jobs run one after the other, so a
        # read abandoned by a cancelled task has disarmed the reader before the
        # next read arms it.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="card-reader")
        self._cancel = threading.Event()     # the current read's cancel flag

    async def read_swipe(self, timeout_s: float) -> CardSwipe:
        self._cancel = cancel = threading.Event()
        try:
            job = self._worker.submit(self._read_blocking, timeout_s, cancel)
        except RuntimeError as exc:     # the executor is shut down: close() was called
            raise ReaderFault("card reader is closed") from exc
        try:
            track2 = await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            cancel.set()       # the worker disarms and stops at its next poll
            raise
        # parse_track2 raises BadSwipe, never anything else, on a garbled track
        return parse_track2(track2)

    async def cancel(self) -> None:
        self._cancel.set()

    async def close(self) -> None:
        """Stop a pending read, close the port and end the worker thread."""
        self._cancel.set()
        try:
            await asyncio.wrap_future(self._worker.submit(self._close_port))
        except RuntimeError:            # closed already
            return
        self._worker.shutdown(wait=False)

    # --- worker thread -------------------------------------------------------
    def _read_blocking(self, timeout_s: float, cancel: threading.Event) -> str:
        deadline = time.monotonic() + timeout_s
        try:
            port = self._open()
            port.reset_input_buffer()   # stale bytes of an earlier exchange
            link = _Link(port)
            self._command(link, Command.ARM)
            try:
                return self._await_card(link, deadline, cancel)
            finally:
                self._disarm_quietly(link)
        except SERIAL_ERRORS as exc:
            self._close_port()
            raise ReaderFault(f"card reader I/O failed on {self.port_path}") from exc
        except _Cancelled:
            raise SwipeTimeout("swipe cancelled") from None

    def _open(self) -> serial.Serial:
        if self._serial is None:
            try:
                self._serial = serial.Serial(self.port_path, self.baudrate, timeout=POLL_S,
                                             write_timeout=self._ack_timeout_s)
            except (*SERIAL_ERRORS, ValueError) as exc:
                raise ReaderFault(f"cannot open card reader port {self.port_path}") from exc
        return self._serial

    def _close_port(self) -> None:
        port, self._serial = self._serial, None
        close_quietly(port)

    def _command(self, link: EventPump[codec.Event], command: Command) -> None:
        """Send a command and wait for its ACK; one retry on NAK (line noise).
        Anything else that arrives meanwhile is kept for the caller."""
        held: list[codec.Event] = []
        try:
            for _attempt in range(2):
                link.port.write(codec.encode_command(command))
                limit = time.monotonic() + self._ack_timeout_s
                while (event := link.next_event(limit)) is not None:
                    if isinstance(event, codec.Ack):
                        return
                    if isinstance(event, codec.Nak):
                        break
                    held.append(event)
                else:
                    raise ReaderFault(f"card reader did not answer {command.name}")
            raise ReaderFault(f"card reader refused {command.name}")
        finally:
            link.pending.extendleft(reversed(held))

    def _await_card(self, link: EventPump[codec.Event], deadline: float, cancel: threading.Event) -> str:
        while True:
            event = link.next_event(min(deadline, time.monotonic() + POLL_S))
            if event is None:
                if cancel.is_set():
                    raise _Cancelled()
                if time.monotonic() >= deadline and not link.decoder.in_frame:
                    raise SwipeTimeout("no card swiped")
                continue
            if isinstance(event, FrameError):
                log.info("card reader: bad frame (%s)", event.reason)
                raise BadSwipe(f"bad frame from reader: {event.reason}")
            if isinstance(event, CardData):
                return self._track2_of(event)
            # a stray ACK/NAK while waiting for a card: nothing to do

    @staticmethod
    def _track2_of(card: CardData) -> str:
        status = card.track2.status
        log.info("card reader: swipe received, track 2 %s", status.name)
        if status is TrackStatus.OK:
            return card.track2.data
        if status is TrackStatus.ERROR:
            raise BadSwipe("track 2 read error")
        raise BadSwipe("track 2 blank")

    def _disarm_quietly(self, link: EventPump[codec.Event]) -> None:
        """Always leave the reader disarmed (a swipe after we stopped listening
        must not be sent later). Errors here must not hide the real outcome;
        a dead port shows up on the next read."""
        try:
            self._command(link, Command.DISARM)
        except (ReaderFault, *SERIAL_ERRORS):
            log.debug("card reader: disarm not acknowledged")


def _Link(port: serial.Serial) -> EventPump[codec.Event]:
    return EventPump(port, codec.ReaderDecoder())
