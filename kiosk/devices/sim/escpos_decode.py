"""A small incremental ESC/POS decoder: the commands our driver sends, and the
status queries a driver may ask. Pure (no I/O) so it is tested byte-exactly.

Incremental because a TCP stream arrives in arbitrary pieces: a command or a
multi-byte GB18030 character cut at a piece boundary is kept until the rest
arrives. Status queries (DLE EOT n, GS r n) are decoded like any command; the
simulator answers them with `status_reply`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiosk.devices.ports import PaperStatus

LF, CR, DLE, EOT, ESC, FS, GS = 0x0A, 0x0D, 0x10, 0x04, 0x1B, 0x1C, 0x1D


@dataclass(frozen=True, slots=True)
class Init:              # ESC @
    pass


@dataclass(frozen=True, slots=True)
class Align:             # ESC a n: 0 left, 1 centre, 2 right
    n: int


@dataclass(frozen=True, slots=True)
class Bold:              # ESC E n
    on: bool


@dataclass(frozen=True, slots=True)
class PrintMode:         # ESC ! n (bit 3 bold, bit 4 double height, bit 5 double width)
    n: int


@dataclass(frozen=True, slots=True)
class CharSize:          # GS ! n: width and height multipliers 1..8
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ChineseMode:       # FS & (on) / FS . (off)
    on: bool


@dataclass(frozen=True, slots=True)
class LineFeed:          # LF: print the line buffer, feed one line
    pass


@dataclass(frozen=True, slots=True)
class Feed:              # ESC d n: print the line buffer, feed n lines
    lines: int


@dataclass(frozen=True, slots=True)
class Cut:               # GS V m [n]
    partial: bool


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class StatusQuery:       # DLE EOT n ("DLE EOT") / GS r n ("GS r")
    kind: str
    n: int


@dataclass(frozen=True, slots=True)
class Unknown:           # a command we do not model; its bytes, for diagnostics
    data: bytes


Event = (Init | Align | Bold | PrintMode | CharSize | ChineseMode | LineFeed | Feed
         | Cut | Text | StatusQuery | Unknown)

# Parameter byte counts of other common one-parameter commands, so they are
# skipped whole instead of leaking their parameter into the text.
_ESC_ONE_PARAM = {ord(c) for c in " -3GJMRTUVrt{"}
_GS_ONE_PARAM = {ord(c) for c in "BHbfhw|"}
_FS_ONE_PARAM = {ord(c) for c in "!-W"}


class EscposDecoder:
    """Feed bytes, get events. Keeps state that changes how bytes are read:
    only Chinese character mode (GB18030 text vs the single-byte codepage)."""

    def __init__(self, single_byte_codepage: str = "cp437") -> None:
        self._buf = b""
        self.chinese = False
        self._codepage = single_byte_codepage

    def feed(self, data: bytes) -> list[Event]:
        return [event for event, _ in self.feed_spans(data)]

    def feed_spans(self, data: bytes) -> list[tuple[Event, bytes]]:
        """Events with the exact bytes each came from (the simulator keeps a
        receipt's own bytes, status queries left out)."""
        buf = self._buf + data
        out: list[tuple[Event, bytes]] = []
        i = start = 0
        while i < len(buf):
            parsed = self._one(buf, i)
            if parsed is None:          # incomplete: wait for more bytes
                break
            event, i = parsed
            if event is not None:       # ignored bytes (CR) go with the next event
                out.append((event, buf[start:i]))
                start = i
        self._buf = buf[start:]
        return out

    @property
    def pending(self) -> bytes:
        """Bytes held back waiting for the rest of a command or character."""
        return self._buf

    # -- one command or text run starting at buf[i]; None when incomplete ----
    def _one(self, buf: bytes, i: int) -> tuple[Event | None, int] | None:
        b = buf[i]
        if b >= 0x20:
            return self._text(buf, i)
        if b == LF:
            return LineFeed(), i + 1
        if b == CR:
            return None, i + 1          # CR alone does nothing on most receipt printers
        if b in (ESC, GS, FS, DLE):
            if i + 1 >= len(buf):
                return None
            return self._command(buf, i)
        return Unknown(bytes([b])), i + 1

    def _command(self, buf: bytes, i: int) -> tuple[Event | None, int] | None:
        b, c = buf[i], buf[i + 1]

        def param(count: int = 1) -> bytes | None:
            return buf[i + 2:i + 2 + count] if i + 2 + count <= len(buf) else None

        if b == ESC and c == ord("@"):
            return Init(), i + 2
        if b == FS and c == ord("&"):
            self.chinese = True
            return ChineseMode(True), i + 2
        if b == FS and c == ord("."):
            self.chinese = False
            return ChineseMode(False), i + 2
        if b == GS and c == ord("V"):
            m = param()
            if m is None:
                return None
            if m[0] in (65, 66):            # GS V 65/66 n: feed n then cut
                feed = param(2)
                if feed is None:
                    return None
                return Cut(partial=m[0] == 66), i + 4
            return Cut(partial=m[0] in (1, 49)), i + 3
        one_param = ((b == ESC and c in {ord("a"), ord("E"), ord("!"), ord("d")} | _ESC_ONE_PARAM)
                     or (b == GS and c in {ord("!"), ord("r")} | _GS_ONE_PARAM)
                     or (b == FS and c in _FS_ONE_PARAM)
                     or (b == DLE and c == EOT))
        if not one_param:
            return Unknown(buf[i:i + 2]), i + 2
        p = param()
        if p is None:
            return None
        n, end = p[0], i + 3
        if b == ESC:
            makers: dict[int, Callable[[], Event]] = {
                ord("a"): lambda: Align(n),
                ord("E"): lambda: Bold(bool(n & 1)),
                ord("!"): lambda: PrintMode(n),
                ord("d"): lambda: Feed(n),
            }
            event: Event = makers.get(c, lambda: Unknown(buf[i:end]))()
        elif b == GS and c == ord("!"):
            event = CharSize(width=(n >> 4) + 1, height=(n & 0x0F) + 1)
        elif b == GS and c == ord("r"):
            event = StatusQuery("GS r", n)
        elif b == DLE:
            event = StatusQuery("DLE EOT", n)
        else:
            event = Unknown(buf[i:end])
        return event, end

    def _text(self, buf: bytes, i: int) -> tuple[Event, int] | None:
        """A run of printable bytes up to the next control byte. In Chinese mode
        GB18030: lead 0x81-0xFE, then a 2nd byte 0x30-0x39 means a 4-byte char;
        no trail byte is below 0x30, so a control byte always ends a run."""
        j = i
        end = len(buf)
        while j < end and buf[j] >= 0x20:
            if not self.chinese or buf[j] < 0x80:
                j += 1
                continue
            if j + 1 >= end:
                break
            size = 4 if 0x30 <= buf[j + 1] <= 0x39 else 2
            if j + size > end:
                break
            j += size
        if j == i:
            return None                 # only part of a character so far
        raw = buf[i:j]
        codec = "gb18030" if self.chinese else self._codepage
        return Text(raw.decode(codec, errors="replace")), j


def decode(data: bytes) -> list[Event]:
    """Decode a complete buffer (as the tests and tools use it)."""
    return EscposDecoder().feed(data)


# -- what a printer answers to status queries --------------------------------
# DLE EOT n answers have bits 1 and 4 set and bit 0/7 clear (so they can be
# told from other data). For n=4 (paper roll sensor): bits 2-3 = near end,
# bits 5-6 = paper out; python-escpos' paper_status() reads exactly these bits.
_FIXED = 0x12
_PAPER_DLE_EOT_4 = {PaperStatus.OK: 0x12, PaperStatus.NEAR_END: 0x1E, PaperStatus.OUT: 0x7E}
# GS r 1 (paper sensor status): bits 0-1 near end, bits 2-3 paper out.
_PAPER_GS_R_1 = {PaperStatus.OK: 0x00, PaperStatus.NEAR_END: 0x03, PaperStatus.OUT: 0x0F}


def status_reply(query: StatusQuery, paper: PaperStatus) -> bytes:
    """The one status byte a (working, connected) printer answers."""
    if query.kind == "DLE EOT":
        if query.n == 4:
            return bytes([_PAPER_DLE_EOT_4[paper]])
        if query.n == 2 and paper is PaperStatus.OUT:   # offline cause: paper end stop
            return bytes([_FIXED | 0x20])
        return bytes([_FIXED])          # n=1 online, n=2/3 no offline/error cause
    if query.n in (1, 49):
        return bytes([_PAPER_GS_R_1[paper]])
    return b"\x00"                      # GS r 2 (drawer) and others: nothing to report
