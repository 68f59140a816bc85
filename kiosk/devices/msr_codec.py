"""Byte protocol of the serial magnetic-stripe reader (pure: no I/O).

Modelled on the common serial MSR modules: the host arms the reader with a short
framed command, the reader answers ACK, and after a card passes it sends every
track it read in one framed message and disarms itself (one swipe per arm).

Host -> reader command (4 bytes)::

    STX(02) CMD ETX(03) LRC        LRC = CMD ^ ETX

    CMD  'A' 0x41 arm (read tracks 1-3 once)   -> ACK(06)
         'D' 0x44 disarm                       -> ACK(06)
         'S' 0x53 status / ping                -> ACK(06)
    A frame with a bad LRC or an unknown command -> NAK(15).

Reader -> host card data::

    STX(02) 'C'(43) [status len data] x 3 (tracks 1, 2, 3) ETX(03) LRC

    status  '0' track read ok, `len` bytes of data follow (sentinels included)
            '1' track blank (nothing on the stripe), len = 0
            '2' read error on the stripe (parity / track LRC), len = 0
    len     one byte, 0..MAX_TRACK_LEN[track]
    LRC     XOR of every byte after STX up to and including ETX

Framing is by length, so data bytes are never mistaken for STX/ETX; bytes
outside a frame that are not STX/ACK/NAK are line noise and skipped. Another
reader model gets its own codec with the same events (Ack, Nak, CardData,
FrameError); the driver stays the same.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from kiosk.devices.framing import ACK, ETX, NAK, STX, Ack, FramedDecoder, FrameError, Nak, lrc  # noqa: F401 (re-exported)
CARD_DATA = ord("C")
MAX_TRACK_LEN = (79, 40, 107)   # ISO/IEC 7811 track capacities incl. sentinels


class Command(enum.Enum):
    ARM = ord("A")
    DISARM = ord("D")
    STATUS = ord("S")


class TrackStatus(enum.Enum):
    OK = ord("0")
    BLANK = ord("1")
    ERROR = ord("2")


@dataclass(frozen=True, slots=True)
class Track:
    status: TrackStatus
    data: str = field(default="", repr=False)   # track data never shows in a repr/log

    @classmethod
    def ok(cls, data: str) -> Track:
        return cls(TrackStatus.OK, data)

    @classmethod
    def blank(cls) -> Track:
        return cls(TrackStatus.BLANK)

    @classmethod
    def error(cls) -> Track:
        return cls(TrackStatus.ERROR)


@dataclass(frozen=True, slots=True)
class CardData:
    tracks: tuple[Track, Track, Track]

    @property
    def track2(self) -> Track:
        return self.tracks[1]


Event = Ack | Nak | CardData | FrameError


# --- host side ---------------------------------------------------------------
def encode_command(command: Command) -> bytes:
    body = bytes([command.value, ETX])
    return bytes([STX]) + body + bytes([lrc(body)])


# --- reader side (used by the simulator; a codec is both halves of a protocol)
def encode_card_data(tracks: tuple[Track, Track, Track]) -> bytes:
    body = bytearray([CARD_DATA])
    for number, track in enumerate(tracks):
        raw = track.data.encode("ascii") if track.status is TrackStatus.OK else b""
        if len(raw) > MAX_TRACK_LEN[number]:
            raise ValueError(f"track {number + 1} longer than {MAX_TRACK_LEN[number]}")
        body += bytes([track.status.value, len(raw)]) + raw
    body.append(ETX)
    return bytes([STX]) + bytes(body) + bytes([lrc(body)])


def decode_command(frame: bytes) -> Command | None:
    """One 4-byte command frame -> Command, or None (the reader answers NAK)."""
    if len(frame) != 4 or frame[0] != STX or frame[2] != ETX or lrc(frame[1:3]) != frame[3]:
        return None
    try:
        return Command(frame[1])
    except ValueError:
        return None


class CommandSplitter:
    """Reader side: splits the host byte stream into 4-byte command frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames: list[bytes] = []
        while True:
            start = self._buf.find(STX)
            if start < 0:
                self._buf.clear()
                return frames
            del self._buf[:start]
            if len(self._buf) < 4:
                return frames
            frames.append(bytes(self._buf[:4]))
            del self._buf[:4]


class ReaderDecoder(FramedDecoder):
    """Host side: incremental decoder of the reader's byte stream.

    feed() returns the complete events so far; expire() is called by the driver
    when the line has been quiet too long in the middle of a frame (the frame
    was cut short) and turns the partial frame into a FrameError."""

    def _try_frame(self) -> Event | None:
        """None while the frame is incomplete, else the decoded event."""
        buf = self._buf
        if buf[1] != CARD_DATA:
            return FrameError(f"unknown message type 0x{buf[1]:02X}")
        pos = 2
        for number in range(3):
            if len(buf) < pos + 1:
                return None
            status = buf[pos]
            if status not in (s.value for s in TrackStatus):
                return FrameError(f"track {number + 1}: bad status 0x{status:02X}")
            if len(buf) < pos + 2:
                return None
            length = buf[pos + 1]
            if length > MAX_TRACK_LEN[number] or (status != TrackStatus.OK.value and length):
                return FrameError(f"track {number + 1}: bad length {length}")
            pos += 2 + length
        if len(buf) < pos + 2:
            return None
        if buf[pos] != ETX:
            return FrameError("ETX missing")
        if lrc(buf[1:pos + 1]) != buf[pos + 1]:
            return FrameError("bad LRC")
        return self._card_data(bytes(buf[:pos + 2]))

    @staticmethod
    def _card_data(frame: bytes) -> Event:
        tracks = []
        pos = 2
        for _ in range(3):
            status, length = TrackStatus(frame[pos]), frame[pos + 1]
            raw = frame[pos + 2:pos + 2 + length]
            try:
                text = raw.decode("ascii")
            except UnicodeDecodeError:
                return FrameError("track data not ASCII")
            tracks.append(Track(status, text))
            pos += 2 + length
        return CardData((tracks[0], tracks[1], tracks[2]))
