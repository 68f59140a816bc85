"""What the fleet code needs from the rest of the kiosk, and no more: the
payment service and the journal as the fleet sees them. Written as Protocols
so that the fleet depends on these few members, not on PaymentService or
Journal (bootstrap passes the real ones; tests may pass small fakes)."""
from __future__ import annotations

from collections.abc import Callable, Sized
from datetime import datetime
from typing import Protocol

from kiosk.backend_client.fleet import Figures
from kiosk.devices.ports import CardReader, PinPad, ReceiptPrinter


class PaymentDevices(Protocol):
    """The payment service's devices, which devices.watch_payment_devices
    replaces in place with watched ones (so they are plain attributes)."""

    reader: CardReader
    pinpad: PinPad
    printer: ReceiptPrinter


class FiguresJournal(Protocol):
    """The journal's read-only figures that every heartbeat carries."""

    def day_figures(self, day: str) -> Figures:
        """Business day `day` (YYYY-MM-DD): counts and takings."""
        ...

    def backlog_figures(self, now: datetime) -> Figures:
        """Money in doubt being undone and results not yet delivered."""
        ...


class BacklogJournal(Protocol):
    """What upload_journal counts before and after it settles."""

    def in_state(self, *states: str) -> Sized: ...

    def unsent_backups(self) -> Sized: ...


class PaymentCommands(Protocol):
    """The payment service as its staff commands (upload_journal, print_test) use it."""

    @property
    def journal(self) -> BacklogJournal: ...

    @property
    def printer(self) -> ReceiptPrinter: ...

    @property
    def estate(self) -> str: ...

    @property
    def kiosk_id(self) -> str: ...

    @property
    def now(self) -> Callable[[], datetime]: ...

    async def settle_once(self) -> bool:
        """Send pending reversals, then backup copies. True when nothing is left."""
        ...
