"""The ReceiptPrinter port on python-escpos.

python-escpos gives us the transports (Network, Serial, Usb: each implements
only `_raw`/`_read`) and the real-time status query; escpos_receipt builds the
bytes. Library and socket errors become PrinterFault / PaperOut here.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from escpos import exceptions as escpos_errors
from escpos.constants import (
    RT_MASK_LOWPAPER,
    RT_MASK_NOPAPER,
    RT_MASK_PAPER,
    RT_STATUS_PAPER,
)
from escpos.escpos import Escpos

from kiosk.devices.escpos_receipt import COLUMNS_58MM, build_receipt
from kiosk.devices.ports import PaperStatus
from kiosk.domain.errors import PaperOut, PrinterFault
from kiosk.domain.receipt import Receipt

log = logging.getLogger(__name__)

# What the transports raise: the library's own errors, OSError (sockets,
# pyserial's SerialException, pyusb's USBError), and the `assert self.device`
# in every `_raw` when a previous open failed.
_IO_ERRORS = (escpos_errors.Error, OSError, AssertionError)


def paper_from_status_byte(status: int) -> PaperStatus:
    """DLE EOT 4 answer -> PaperStatus, with the bit masks and precedence of
    python-escpos' Escpos.paper_status() (0 out, 1 near end, 2 ok)."""
    if status & RT_MASK_NOPAPER == RT_MASK_NOPAPER:
        return PaperStatus.OUT
    if status & RT_MASK_LOWPAPER == RT_MASK_LOWPAPER:
        return PaperStatus.NEAR_END
    if status & RT_MASK_PAPER == RT_MASK_PAPER:
        return PaperStatus.OK
    raise PrinterFault(f"unexpected paper status byte {status:#04x}")


class EscposReceiptPrinter:
    """A receipt printer behind any python-escpos printer object.

    The connection is opened on first use and kept; after an I/O error it is
    dropped and opened again on the next call, so a printer that was switched
    off or unplugged comes back without restarting the kiosk.
    """

    def __init__(self, printer: Escpos, *, columns: int = COLUMNS_58MM) -> None:
        self._printer = printer
        self.columns = columns
        # A threading lock, taken inside the worker thread: if the awaiting
        # coroutine is cancelled the thread still finishes its I/O holding the
        # lock, so two jobs can never interleave on the wire.
        self._lock = threading.Lock()
        self._connected = False

    @property
    def device(self) -> Escpos:
        """The python-escpos printer underneath (for diagnostics)."""
        return self._printer

    async def prepare(self) -> None:
        """Nothing to load: the connection opens on the first call."""

    async def paper_status(self) -> PaperStatus:
        return await asyncio.to_thread(self._locked, self._paper_status)

    async def print_receipt(self, receipt: Receipt) -> None:
        data = build_receipt(receipt, self.columns)   # pure; before the lock
        await asyncio.to_thread(self._locked, self._print, data)

    async def close(self) -> None:
        await asyncio.to_thread(self._locked, self._disconnect)

    # -- worker-thread side ---------------------------------------------------
    def _locked(self, fn: Any, *args: Any) -> Any:
        with self._lock:
            try:
                return fn(*args)
            except PrinterFault:
                raise
            except _IO_ERRORS as exc:
                self._disconnect()
                raise PrinterFault(f"printer I/O failed: {exc}") from exc

    def _connect(self) -> None:
        if not self._connected:
            self._printer.open()
            self._connected = True

    def _disconnect(self) -> None:
        self._connected = False
        try:
            self._printer.close()
        except _IO_ERRORS as exc:     # already broken: nothing more to do
            log.debug("closing printer: %s", exc)

    def _paper_status(self) -> PaperStatus:
        self._connect()
        # query_status, not paper_status(): the library reads an empty answer
        # (peer closed, serial timeout) as "paper adequate"; for us no answer
        # means the printer is not there.
        answer = self._printer.query_status(RT_STATUS_PAPER)
        if not answer:
            self._disconnect()
            raise PrinterFault("printer did not answer the paper status query")
        return paper_from_status_byte(answer[0])

    def _print(self, data: bytes) -> None:
        paper = self._paper_status()
        if paper is PaperStatus.OUT:
            raise PaperOut("paper out")
        if paper is PaperStatus.NEAR_END:
            log.warning("receipt paper near end")
        # One write: the printer gets the whole receipt or (on error) we know
        # it did not; nothing else can be interleaved.
        self._printer._raw(data)


# Config ([devices.printer] in kiosk TOML) names -> python-escpos argument
# names, per kind. Other keys go to the library class unchanged (timeout,
# in_ep/out_ep, parity, ...), so anything the library supports can be set.
_PARAM_NAMES = {
    "network": {"tcp_port": "port"},
    "serial": {"port": "devfile"},
    "usb": {"vendor_id": "idVendor", "product_id": "idProduct"},
}


def open_printer(kind: str, *, columns: int = COLUMNS_58MM, **params: Any) -> EscposReceiptPrinter:
    """Build the adapter from config; nothing is opened until first use.

    kind "network": host, tcp_port=9100 (or port), timeout=5
    kind "serial":  port (device file, or devfile), baudrate=9600, timeout=1
    kind "usb":     vendor_id, product_id (or idVendor, idProduct), needs pyusb
    """
    from escpos import printer as escpos_printer

    if kind not in _PARAM_NAMES:
        raise ValueError(f"unknown printer kind {kind!r} (network, serial or usb)")
    args = {_PARAM_NAMES[kind].get(key, key): value for key, value in params.items()}
    if kind == "network":
        args.setdefault("timeout", 5)     # the library's default of 60 s would freeze a screen
        device: Escpos = escpos_printer.Network(**args)
    elif kind == "serial":
        device = escpos_printer.Serial(**args)
    else:
        if not escpos_printer.Usb.is_usable():
            raise PrinterFault("USB printer configured but pyusb is not installed")
        device = escpos_printer.Usb(**args)
    return EscposReceiptPrinter(device, columns=columns)
