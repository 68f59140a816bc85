"""The bench's simulated receipt printer: the last receipt as printed (its
PNG) and how many, paper OK / near end / out, online / offline."""
from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty

from kiosk.demo.bench.widgets import BenchSection
from kiosk.devices.ports import PaperStatus

if TYPE_CHECKING:
    from kiosk.devices.sim.printer import SimPrinter

log = logging.getLogger(__name__)

PAPER_STATES = ("ok", "near_end", "out")         # kiosk.devices.ports.PaperStatus values


class PrinterBench(BenchSection):
    receipts = NumericProperty(0)
    receipt_texture = ObjectProperty(None, allownone=True)
    receipt_text = StringProperty("")
    paper = StringProperty("ok")
    printer_offline = BooleanProperty(False)

    def __init__(self, printer: SimPrinter | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.printer = printer
        if printer is not None:
            # it prints on its device thread: only schedule a refresh
            printer.on_receipt = lambda _text, _path: Clock.schedule_once(lambda _dt: self._show_receipt())
            self.paper = printer.paper.value
            self.printer_offline = printer.offline
            self._show_receipt()

    def detach(self) -> None:
        if self.printer is not None:
            self.printer.on_receipt = None

    def set_paper(self, value: str) -> None:
        if self.printer is not None:
            self.printer.paper = PaperStatus(value)
            self.paper = self.printer.paper.value

    def set_printer_offline(self, offline: bool) -> None:
        if self.printer is not None:
            self.printer.offline = offline
            self.printer_offline = self.printer.offline

    def _show_receipt(self) -> None:
        printer = self.printer
        if printer is None or not printer.receipts:
            return
        last = printer.receipts[-1]
        self.receipts = len(printer.receipts)
        self.receipt_text = last.text
        try:
            self.receipt_texture = CoreImage(io.BytesIO(last.png), ext="png").texture
        except Exception:  # noqa: BLE001 - the text stays available
            log.exception("bench: cannot show the receipt image")
            self.receipt_texture = None
