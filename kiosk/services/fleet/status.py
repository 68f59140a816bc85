"""What the heartbeat reports beyond the fleet service's own state: a status
provider's figures (today's transactions, the upload backlog, device states),
and the standard provider, which reads them from the journal and asks the
printer for its paper between transactions."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from kiosk.backend_client.fleet import DeviceState
from kiosk.devices.ports import ReceiptPrinter
from kiosk.domain.errors import PrinterFault
from kiosk.services.fleet.devices import paper_state
from kiosk.services.fleet.ports import FiguresJournal


class StatusProvider(Protocol):
    async def __call__(self, *, busy: bool) -> dict[str, Any]:
        """{"today": {...}, "backlog": {...}, "devices": {...}} (any may be left out).
        `busy`: a transaction runs; do not touch the devices."""


class JournalStatus:
    """Today's figures and the upload backlog from the journal; the printer's
    paper, asked between transactions only (a receipt may be printing)."""

    PRINTER_TIMEOUT_S = 3.0

    def __init__(self, journal: FiguresJournal, printer: ReceiptPrinter | None = None, *,
                 now: Callable[[], datetime]) -> None:
        self.journal, self.printer, self.now = journal, printer, now
        self._printer_state: DeviceState = {"state": "unknown"}

    async def __call__(self, *, busy: bool) -> dict[str, Any]:
        now = self.now()
        report: dict[str, Any] = {"today": self.journal.day_figures(now.date().isoformat()),
                                  "backlog": self.journal.backlog_figures(now)}
        if self.printer is not None:
            if not busy:
                self._printer_state = await self._ask_printer()
            report["devices"] = {"printer": self._printer_state}
        return report

    async def _ask_printer(self) -> DeviceState:
        assert self.printer is not None
        try:
            async with asyncio.timeout(self.PRINTER_TIMEOUT_S):
                status = await self.printer.paper_status()
        except TimeoutError:
            return {"state": "fault", "reason": "no answer"}
        except PrinterFault as exc:
            return {"state": "fault", "reason": exc.detail[:200]}
        return {"state": paper_state(status)}
