"""A printer adapter built on first use, in a worker thread.

python-escpos loads its printer-capabilities database on import (~0.4 s here);
deferring it keeps that off the kiosk's start-up and off the UI thread."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from kiosk.devices.ports import PaperStatus, ReceiptPrinter
from kiosk.domain.receipt import Receipt


class DeferredPrinter:
    def __init__(self, factory: Callable[[], ReceiptPrinter]) -> None:
        self._factory = factory
        self._printer: ReceiptPrinter | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> ReceiptPrinter:
        async with self._lock:
            if self._printer is None:
                self._printer = await asyncio.to_thread(self._factory)
            return self._printer

    async def prepare(self) -> None:
        await (await self.get()).prepare()

    async def paper_status(self) -> PaperStatus:
        return await (await self.get()).paper_status()

    async def print_receipt(self, receipt: Receipt) -> None:
        await (await self.get()).print_receipt(receipt)

    async def close(self) -> None:
        if self._printer is not None:
            await self._printer.close()
