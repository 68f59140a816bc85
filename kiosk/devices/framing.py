"""What the serial device protocols share: STX/ETX framing with an XOR check
byte and ACK/NAK, an incremental decoder skeleton, and the worker-thread
pump that turns port reads into decoded events. Each device's codec says only
how its own frames look (`_try_frame`)."""
from __future__ import annotations

import termios
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import serial

STX, ETX, ACK, NAK = 0x02, 0x03, 0x06, 0x15
FRAME_GAP_S = 0.5      # silence inside a frame longer than this = frame cut short

# What pyserial lets through when a port fails: its own exception, OSError from
# the fd, and termios.error (not an OSError) from tcflush/tcsetattr on a tty
# whose other end is gone.
SERIAL_ERRORS = (serial.SerialException, OSError, termios.error)


def close_quietly(port: serial.Serial | None) -> None:
    """Close a port that may already be broken."""
    if port is not None:
        try:
            port.close()
        except SERIAL_ERRORS:
            pass


@dataclass(frozen=True, slots=True)
class Ack:
    pass


@dataclass(frozen=True, slots=True)
class Nak:
    pass


@dataclass(frozen=True, slots=True)
class FrameError:
    """A frame that cannot be trusted: bad check byte, bad layout or cut short."""

    reason: str


def lrc(data: bytes | bytearray) -> int:
    """XOR of the bytes: the check byte of both protocols."""
    value = 0
    for b in data:
        value ^= b
    return value


class FramedDecoder:
    """Incremental decoder. Outside a frame ACK/NAK become events, STX starts a
    frame, any other byte is line noise and skipped. expire() turns a frame
    that stopped arriving into a FrameError."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def in_frame(self) -> bool:
        return bool(self._buf)

    def reset(self) -> None:
        self._buf.clear()

    def expire(self) -> list[Any]:
        if not self._buf:
            return []
        self._buf.clear()
        return [FrameError("truncated frame")]

    def feed(self, data: bytes) -> list[Any]:
        events: list[Any] = []
        for byte in data:
            if not self._buf:
                if byte == ACK:
                    events.append(Ack())
                elif byte == NAK:
                    events.append(Nak())
                elif byte == STX:
                    self._buf.append(byte)
                continue
            self._buf.append(byte)
            event = self._try_frame()
            if event is not None:
                events.append(event)
                self._buf.clear()
        return events

    def _try_frame(self) -> Any | None:
        """None while the frame in self._buf is incomplete, else its event."""
        raise NotImplementedError


class _Port(Protocol):
    in_waiting: int

    def read(self, size: int = 1) -> bytes: ...


E = TypeVar("E")


class EventPump(Generic[E]):
    """The port, its decoder, and events decoded but not yet consumed (one read
    may carry an ACK and a frame together). Runs in the driver's worker thread."""

    def __init__(self, port: Any, decoder: FramedDecoder) -> None:
        self.port = port
        self.decoder = decoder
        self.pending: deque[E] = deque()
        self._last_byte = time.monotonic()

    def next_event(self, until: float) -> E | None:
        """The next event, or None once `until` has passed. A frame that stops
        arriving for FRAME_GAP_S becomes a FrameError (cut short)."""
        while not self.pending:
            data = self.port.read(1)          # waits up to the port's read timeout
            if data:
                if self.port.in_waiting:
                    data += self.port.read(self.port.in_waiting)
                self._last_byte = time.monotonic()
                self.pending.extend(self.decoder.feed(data))
            elif self.decoder.in_frame and time.monotonic() - self._last_byte > FRAME_GAP_S:
                self.pending.extend(self.decoder.expire())
            if not self.pending and time.monotonic() >= until:
                return None
        return self.pending.popleft()
