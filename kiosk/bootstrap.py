"""Composition root: config -> adapters (real | sim) -> services. The only
module that knows concrete classes; `kiosk run`, `kiosk demo`, the tests and
the benchmarks all build the same graph (DESIGN §2 rule 6)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.backend_client.client import HostClient
from kiosk.config import KioskSettings
from kiosk.services.bills import BillService

if TYPE_CHECKING:
    import httpx

    from kiosk.devices.sim.card_reader import SimCardReader
    from kiosk.devices.sim.pinpad import SimPinPad
    from kiosk.devices.sim.printer import SimPrinter
    from kiosk.services.journal import Journal
    from kiosk.services.payment import PaymentService

log = logging.getLogger(__name__)


@dataclass
class SimDevices:
    """The simulators behind the real drivers (for the device bench and tests)."""

    reader: SimCardReader | None = None
    pinpad: SimPinPad | None = None
    printer: SimPrinter | None = None

    def close(self) -> None:
        for sim in (self.reader, self.pinpad, self.printer):
            if sim is not None:
                sim.close()


@dataclass
class Kiosk:
    """The kiosk's service graph, with no UI: what screens call."""

    settings: KioskSettings
    host: HostClient
    bills: BillService
    payments: PaymentService | None = None
    journal: Journal | None = None
    sims: SimDevices | None = None

    def warm_up(self) -> None:
        """Load what start-up deferred; called once the idle screen is drawn."""
        self.host.warm_up()

    async def start(self) -> None:
        """Sign on and settle anything a crash left in flight (reversals, backup
        copies) before payments are offered."""
        if self.payments is not None:
            await self.payments.start()

    async def aclose(self) -> None:
        if self.payments is not None:
            await self.payments.stop()
            await self.payments.bank.aclose()
            for device in (self.payments.reader, self.payments.pinpad, self.payments.printer):
                await device.close()
        await self.host.aclose()
        if self.journal is not None:
            self.journal.close()
        if self.sims is not None:
            self.sims.close()


def build(settings: KioskSettings, *, host_transport: "httpx.AsyncBaseTransport | None" = None,
          with_payments: bool | None = None) -> Kiosk:
    """`with_payments` defaults to whether the settings carry a terminal master key."""
    host = HostClient(settings.host.url, timeout_s=settings.host.timeout_s, transport=host_transport)
    kiosk = Kiosk(settings=settings, host=host, bills=BillService(host))
    if with_payments if with_payments is not None else bool(settings.tmk):
        _add_payments(kiosk, host_transport)
    return kiosk


def _add_payments(kiosk: Kiosk, transport: Any) -> None:
    from kiosk.backend_client.bank import BankClient
    from kiosk.backend_client.signed import SignedChannel
    from kiosk.services.journal import Journal
    from kiosk.services.payment import PaymentService

    settings = kiosk.settings
    kiosk.journal = journal = Journal(settings.journal_path)
    kiosk.sims = sims = SimDevices()
    channel = SignedChannel(settings.host.url, settings.kiosk_id, journal.next_counter,
                            timeout_s=settings.host.timeout_s, transport=transport)
    kiosk.payments = PaymentService(
        kiosk_id=settings.kiosk_id, estate=settings.estate_name, journal=journal,
        bank=BankClient(channel, settings.tmk),
        reader=_card_reader(settings, sims), pinpad=_pin_pad(settings, sims),
        printer=_printer(settings, sims, Path(settings.journal_path).parent / "receipts"))


def _card_reader(settings: KioskSettings, sims: SimDevices) -> Any:
    from kiosk.devices.card_reader import SerialCardReader

    device = settings.device("card_reader")
    if device.kind == "sim":
        from kiosk.devices.sim.card_reader import SimCardReader
        sims.reader = SimCardReader()
        return SerialCardReader(sims.reader.path)   # the real driver, on the simulator's pty
    return SerialCardReader(device.params["port"], device.params.get("baudrate", 9600))


def _pin_pad(settings: KioskSettings, sims: SimDevices) -> Any:
    from kiosk.devices.pinpad import SerialPinPad

    device = settings.device("pin_pad")
    if device.kind == "sim":
        from kiosk.devices.sim.pinpad import SimPinPad
        sims.pinpad = SimPinPad(settings.tmk)       # the pad holds the same TMK
        return SerialPinPad(sims.pinpad.path)
    return SerialPinPad(device.params["port"], device.params.get("baudrate", 9600))


def _printer(settings: KioskSettings, sims: SimDevices, receipts_dir: Path) -> Any:
    from kiosk.devices.deferred import DeferredPrinter

    device = settings.device("printer")
    kind, params = device.kind, dict(device.params)
    if kind == "sim":
        from kiosk.devices.sim.printer import SimPrinter
        receipts_dir.mkdir(parents=True, exist_ok=True)
        sims.printer = SimPrinter(receipts_dir, columns=params.get("columns", 32))
        host, port = sims.printer.address   # the real network driver, on the simulator's port
        kind, params = "network", {**params, "host": host, "tcp_port": port}

    def open_real() -> Any:
        from kiosk.devices.printer import open_printer
        return open_printer(kind, **params)

    return DeferredPrinter(open_real)
