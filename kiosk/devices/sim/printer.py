"""A virtual ESC/POS network printer on a local TCP port (a real one listens on
9100), so the real driver -- python-escpos' Network transport and our
EscposReceiptPrinter -- runs unchanged against it.

It decodes the stream, answers status queries from its paper state, and turns
every cut into a finished receipt: the decoded text and a PNG of the paper
strip (rendered with the WenQuanYi font on the printer's dot grid). The device
bench and the tests drive it through `paper`, `offline`, `receipts` and
`wait_for_receipt`.

The server is asyncio in its own thread: tests and the kiosk's own loop never
block it, and going offline can close the listener and every connection at once.
"""
from __future__ import annotations

import asyncio
import functools
import io
import logging
import re
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from PIL import Image, ImageDraw, ImageFont

from kiosk.devices.ports import PaperStatus
from kiosk.devices.sim import escpos_decode as ed

log = logging.getLogger(__name__)

FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FONT_INDEX = 1            # "WenQuanYi Micro Hei Mono": half-width Latin, like a printer font
DOTS = {32: 384, 48: 576}  # printable dots of a 58 mm / 80 mm head at 203 dpi
MARGIN = 16               # white paper either side of the printable area (px)
LINE_GAP = 6              # px between text rows (a printer's default line spacing)

ReceiptListener = Callable[[str, "Path | None"], None]


@dataclass(frozen=True, slots=True)
class PrintedReceipt:
    number: int
    text: str                       # decoded lines, "\n"-joined, trailing feed lines dropped
    png: bytes                      # the rendered strip
    png_path: Path | None           # where it was saved, if out_dir is set
    raw: bytes                      # the receipt's bytes as received (status queries left out)


@dataclass(slots=True)
class _Style:
    align: int = 0
    width: int = 1
    height: int = 1
    bold: bool = False


@dataclass(slots=True)
class _Line:
    """One printed line: its characters with their size, and the alignment in
    force when it was printed."""

    chars: list[tuple[str, int, int, bool]] = field(default_factory=list)
    align: int = 0

    @property
    def text(self) -> str:
        return "".join(ch for ch, *_ in self.chars)


class _Job:
    """Print data since the last cut, as the printer's line buffer sees it."""

    def __init__(self) -> None:
        self.style = _Style()
        self.lines: list[_Line] = []
        self.current = _Line()
        self.raw = bytearray()
        self.spoiled = False          # data arrived while the paper was out

    def apply(self, event: ed.Event) -> None:
        s = self.style
        match event:
            case ed.Init():
                self.style = _Style()
            case ed.Align(n):
                s.align = n if n < 3 else n - 48     # 0/1/2 or '0'/'1'/'2'
            case ed.Bold(on):
                s.bold = on
            case ed.PrintMode(n):
                s.bold = bool(n & 0x08)
                s.height = 2 if n & 0x10 else 1
                s.width = 2 if n & 0x20 else 1
            case ed.CharSize(w, h):
                s.width, s.height = w, h
            case ed.Text(text):
                self.current.chars += [(ch, s.width, s.height, s.bold) for ch in text]
            case ed.LineFeed():
                self._print_line()
            case ed.Feed(n):
                if self.current.chars:
                    self._print_line()
                    n -= 1
                self.lines += [_Line() for _ in range(max(n, 0))]

    def _print_line(self) -> None:
        self.current.align = self.style.align
        self.lines.append(self.current)
        self.current = _Line()

    def finish(self) -> list[_Line]:
        if self.current.chars:          # a cut prints what is left in the buffer
            self._print_line()
        return self.lines


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH), size, index=FONT_INDEX)


def _char_cols(ch: str) -> int:
    return 1 if ord(ch) < 0x80 else 2


def render_png(lines: list[_Line], columns: int = 32) -> bytes:
    """Draw the lines on a white strip, each character in its printer cell
    (half-width cells for one-byte chars, full-width for Chinese), wrapping a
    line that is wider than the head as the printer does."""
    dots = DOTS.get(columns, columns * 12)
    cell = dots // columns                      # width of a half-width cell
    row_h = cell * 2                            # a full-width glyph is square
    font = _font(row_h - 2)
    rows: list[tuple[list[tuple[str, int, int, bool]], int]] = []
    for line in lines:
        row: list[tuple[str, int, int, bool]] = []
        used = 0
        for ch, w, h, bold in line.chars:
            need = _char_cols(ch) * w
            if used + need > columns and row:
                rows.append((row, line.align))
                row, used = [], 0
            row.append((ch, w, h, bold))
            used += need
        rows.append((row, line.align))
    height = MARGIN * 2 + sum(max((h for *_, h, _b in r), default=1) * (row_h + LINE_GAP)
                              for r, _ in rows)
    img = Image.new("L", (dots + 2 * MARGIN, max(height, 2 * MARGIN + row_h)), 255)
    draw = ImageDraw.Draw(img)
    y = MARGIN
    for row, align in rows:
        used = sum(_char_cols(ch) * w for ch, w, *_ in row)
        free = (columns - used) * cell
        x = MARGIN + {1: free // 2, 2: free}.get(align, 0)
        tallest = max((h for *_, h, _b in row), default=1)
        for ch, w, h, bold in row:
            cw = _char_cols(ch) * cell
            top = y + (tallest - h) * row_h     # characters sit on a common baseline
            if w == h:      # plain or uniformly enlarged: draw at that size, crisp
                draw.text((x, top), ch, font=_font(h * (row_h - 2)), fill=0,
                          stroke_width=int(bold), stroke_fill=0)
            else:   # stretched glyph, like the printer's own character enlargement
                glyph = Image.new("L", (cw, row_h), 255)
                ImageDraw.Draw(glyph).text((0, 0), ch, font=font, fill=0,
                                           stroke_width=int(bold), stroke_fill=0)
                img.paste(glyph.resize((cw * w, row_h * h)), (x, top))
            x += cw * w
        y += tallest * (row_h + LINE_GAP)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _receipt_text(lines: list[_Line]) -> str:
    texts = [line.text.rstrip() for line in lines]
    while texts and not texts[-1]:
        texts.pop()
    return "\n".join(texts)


class SimPrinter:
    """A virtual network receipt printer. Starts listening on construction."""

    def __init__(self, out_dir: Path | None = None, host: str = "127.0.0.1", port: int = 0,
                 *, columns: int = 32, on_receipt: ReceiptListener | None = None) -> None:
        self.out_dir = out_dir
        self.host = host
        self.columns = columns
        self.on_receipt = on_receipt
        self.receipts: list[PrintedReceipt] = []
        self.discarded = 0                      # jobs lost because the paper was out
        self._paper = PaperStatus.OK
        self._offline = False
        self._cond = threading.Condition()
        self._waited = 0                        # receipts already handed out by wait_for_receipt
        self._next_number = self._first_free_number()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.base_events.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sim-printer", daemon=True)
        self._thread.start()
        self.port = port
        self._call(self._listen())

    # -- control API -----------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def paper(self) -> PaperStatus:
        return self._paper

    @paper.setter
    def paper(self, status: PaperStatus) -> None:
        self._paper = PaperStatus(status)

    @property
    def offline(self) -> bool:
        return self._offline

    @offline.setter
    def offline(self, value: bool) -> None:
        """Offline: the listener is closed (connections refused) and open
        connections are dropped. Back online: listening on the same port."""
        if value == self._offline:
            return
        self._offline = value
        self._call(self._unlisten() if value else self._listen())

    def wait_for_receipt(self, timeout: float = 5.0) -> PrintedReceipt:
        """The next receipt not yet returned by this method; TimeoutError if none comes."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.receipts) > self._waited, timeout):
                raise TimeoutError(f"no receipt within {timeout}s")
            self._waited += 1
            return self.receipts[self._waited - 1]

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self._unlisten())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- server ----------------------------------------------------------------
    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()            # like pulling the cable: no goodbye
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        decoder = ed.EscposDecoder()
        job = _Job()
        try:
            while data := await reader.read(65536):
                for event, raw in decoder.feed_spans(data):
                    if isinstance(event, ed.StatusQuery):
                        # Answered at once, as real-time commands are, whatever is queued.
                        writer.write(ed.status_reply(event, self._paper))
                        continue
                    job.raw += raw
                    if self._paper is PaperStatus.OUT:
                        job.spoiled = True
                    if isinstance(event, ed.Cut):
                        self._finish(job)
                        job = _Job()
                    else:
                        job.apply(event)
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.debug("sim printer connection dropped: %s", exc)
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    def _finish(self, job: _Job) -> None:
        if job.spoiled:
            self.discarded += 1
            log.info("sim printer: paper out, job of %d bytes not printed", len(job.raw))
            return
        lines = job.finish()
        text = _receipt_text(lines)
        png = render_png(lines, self.columns)
        number = self._next_number
        self._next_number += 1
        png_path = None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / f"{number:04d}.txt").write_text(text + "\n", encoding="utf-8")
            png_path = self.out_dir / f"{number:04d}.png"
            png_path.write_bytes(png)
        receipt = PrintedReceipt(number, text, png, png_path, bytes(job.raw))
        with self._cond:
            self.receipts.append(receipt)
            self._cond.notify_all()
        if self.on_receipt is not None:
            try:
                self.on_receipt(text, png_path)
            except Exception:       # a listener's bug must not kill the printer
                log.exception("on_receipt listener failed")

    def _first_free_number(self) -> int:
        """Continue after receipts already in out_dir, never overwrite them."""
        if self.out_dir is None or not self.out_dir.is_dir():
            return 1
        numbers = [int(m[1]) for p in self.out_dir.iterdir()
                   if (m := re.fullmatch(r"(\d{4})\.(txt|png)", p.name))]
        return max(numbers, default=0) + 1
