"""The device board: each device's last known state for the heartbeat, and
wrappers around the device ports that report each device's faults and
recoveries on it as the flows use them."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from kiosk.backend_client.fleet import DeviceState
from kiosk.devices.ports import CardReader, KeySlot, PaperStatus, PinKey, PinPad, ReceiptPrinter
from common.bank_card import CardSwipe
from kiosk.domain.errors import (
    KioskError,
    PaperOut,
    PinPadFault,
    PrinterFault,
    ReaderFault,
)
from kiosk.domain.receipt import Receipt
from kiosk.services.fleet.ports import PaymentDevices

DEVICE_STATES = ("ok", "fault", "paper_near_end", "paper_out", "unknown")


class DeviceBoard:
    """Each device's last known state, as flows and adapters report it."""

    def __init__(self) -> None:
        self._states: dict[str, tuple[str, str]] = {}

    def report(self, name: str, state: str, reason: str = "") -> None:
        if state not in DEVICE_STATES:
            raise ValueError(f"device state must be one of {', '.join(DEVICE_STATES)}")
        self._states[name] = (state, reason[:200])

    def ok(self, name: str) -> None:
        self.report(name, "ok")

    def fault(self, name: str, reason: str) -> None:
        self.report(name, "fault", reason)

    def snapshot(self) -> dict[str, DeviceState]:
        return {name: _device_state(s, r) for name, (s, r) in self._states.items()}


def _device_state(state: str, reason: str) -> DeviceState:
    """A reason only when there is one: the heartbeat leaves the key out otherwise."""
    return {"state": state, "reason": reason} if reason else {"state": state}


@asynccontextmanager
async def _reported(board: DeviceBoard, name: str, fault: type[KioskError]) -> AsyncIterator[None]:
    """A device call: its fault type marks the device faulty, success marks it ok."""
    try:
        yield
    except fault as exc:
        board.fault(name, exc.detail)
        raise
    board.ok(name)


class WatchedCardReader:
    """A CardReader that reports its faults (and recoveries) on the board."""

    def __init__(self, inner: CardReader, board: DeviceBoard, name: str = "card_reader") -> None:
        self.inner, self.board, self.name = inner, board, name

    async def read_swipe(self, timeout_s: float) -> CardSwipe:
        async with _reported(self.board, self.name, ReaderFault):
            return await self.inner.read_swipe(timeout_s)

    async def cancel(self) -> None:
        await self.inner.cancel()

    async def close(self) -> None:
        await self.inner.close()


class WatchedPinPad:
    def __init__(self, inner: PinPad, board: DeviceBoard, name: str = "pin_pad") -> None:
        self.inner, self.board, self.name = inner, board, name

    async def load_pin_key(self, slot: KeySlot, wrapped: bytes, check_value: bytes) -> None:
        async with _reported(self.board, self.name, PinPadFault):
            await self.inner.load_pin_key(slot, wrapped, check_value)

    async def collect_pin(self, slot: KeySlot, pan: str, on_key: Callable[[PinKey, int], None],
                          timeout_s: float) -> bytes:
        async with _reported(self.board, self.name, PinPadFault):
            return await self.inner.collect_pin(slot, pan, on_key, timeout_s)

    async def collect_card_pin(self, on_key: Callable[[PinKey, int], None], timeout_s: float,
                               min_len: int = 6, max_len: int = 6) -> str:
        async with _reported(self.board, self.name, PinPadFault):
            return await self.inner.collect_card_pin(on_key, timeout_s, min_len, max_len)

    async def cancel(self) -> None:
        await self.inner.cancel()

    async def close(self) -> None:
        await self.inner.close()


class WatchedPrinter:
    def __init__(self, inner: ReceiptPrinter, board: DeviceBoard, name: str = "printer") -> None:
        self.inner, self.board, self.name = inner, board, name

    async def prepare(self) -> None:
        await self.inner.prepare()

    async def paper_status(self) -> PaperStatus:
        try:
            status = await self.inner.paper_status()
        except PrinterFault as exc:
            self.board.fault(self.name, exc.detail)
            raise
        self.board.report(self.name, paper_state(status))
        return status

    async def print_receipt(self, receipt: Receipt) -> None:
        try:
            await self.inner.print_receipt(receipt)
        except PaperOut as exc:
            self.board.report(self.name, "paper_out", exc.detail)
            raise
        except PrinterFault as exc:
            self.board.fault(self.name, exc.detail)
            raise

    async def close(self) -> None:
        await self.inner.close()


def paper_state(status: PaperStatus) -> str:
    return {PaperStatus.OK: "ok", PaperStatus.NEAR_END: "paper_near_end", PaperStatus.OUT: "paper_out"}[status]


def watch_payment_devices(payments: PaymentDevices, board: DeviceBoard) -> None:
    """Wrap a PaymentService's card reader, PIN pad and printer in place."""
    payments.reader = WatchedCardReader(payments.reader, board)
    payments.pinpad = WatchedPinPad(payments.pinpad, board)
    payments.printer = WatchedPrinter(payments.printer, board)
