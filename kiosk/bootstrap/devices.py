"""The composition root's devices: the payment devices (real drivers, or the
same drivers on the simulators' ptys and ports) and the demo's virtual IC cards
behind a private pcscd. Only `kiosk.bootstrap` uses this module."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.clock import Clock
from kiosk.config import KioskSettings

if TYPE_CHECKING:
    from common.demo_cards import DemoMeterCard, DemoOneCardEntry
    from kiosk.devices.ports import CardReader, PinPad, ReceiptPrinter
    from kiosk.devices.sim.card_reader import SimCardReader
    from kiosk.devices.sim.cpu_card import VirtualCpuCard
    from kiosk.devices.sim.m1_card import VirtualM1Card
    from kiosk.devices.sim.meter import SimulatedMeter
    from kiosk.devices.sim.meter_card import VirtualMeterCard
    from kiosk.devices.sim.pcscd import PrivatePcscd
    from kiosk.devices.sim.pinpad import SimPinPad
    from kiosk.devices.sim.printer import SimPrinter
    from kiosk.devices.sim.vpcd import VpcdSlot
    from kiosk.services.fleet.devices import DeviceBoard


@dataclass
class SimDevices:
    """The simulators behind the real drivers (for the device bench and tests)."""

    reader: SimCardReader | None = None
    pinpad: SimPinPad | None = None
    printer: SimPrinter | None = None
    pcscd: PrivatePcscd | None = None                                  # behind the IC card readers
    ic_slots: dict[str, VpcdSlot] = field(default_factory=dict)        # "contact" | "contactless"
    ic_cards: dict[str, VirtualCpuCard] = field(default_factory=dict)  # by serial: the bench's wallet
    onecards: dict[str, VirtualM1Card] = field(default_factory=dict)   # by UID: the bench's one-cards
    meter_cards: dict[str, VirtualMeterCard] = field(default_factory=dict)   # by meter number: the bench's
    meters: dict[str, SimulatedMeter] = field(default_factory=dict)          # the bench's meters they go into
    own_pcscd: bool = True                                             # False: the caller stops it

    def close(self) -> None:
        for slot in self.ic_slots.values():
            slot.remove()
        for sim in (self.reader, self.pinpad, self.printer):
            if sim is not None:
                sim.close()
        if self.pcscd is not None and self.own_pcscd:
            self.pcscd.stop()


@dataclass
class PaymentDevices:
    """The devices of the money services, each given to the services that use it
    (the PIN pad: payments, the wallet and the host session's key loading)."""

    reader: CardReader
    pinpad: PinPad
    printer: ReceiptPrinter

    async def close(self) -> None:
        for device in (self.reader, self.pinpad, self.printer):
            await device.close()


def device_board() -> DeviceBoard:
    """The fleet's view of the devices, made before the services: each service
    is given the watched devices (faults reach the board)."""
    from kiosk.services.fleet.devices import DeviceBoard

    board = DeviceBoard()
    board.report("card_reader", "unknown")   # a swipe reader says nothing until a card is read
    return board


def payment_devices(settings: KioskSettings, sims: SimDevices, board: DeviceBoard | None) -> PaymentDevices:
    """The card reader, PIN pad and printer (watched by the fleet's board)."""
    devices = PaymentDevices(
        card_reader(settings, sims), pin_pad(settings, sims),
        printer(settings, sims, Path(settings.journal_path).parent / "receipts"))
    if board is not None:
        from kiosk.services.fleet.devices import watch_payment_devices
        watch_payment_devices(devices, board)   # wraps the three in place
    return devices


def start_virtual_cards(sims: SimDevices, folder: Path, pcscd: Any, base_port: int, clock: Clock) -> None:
    """The demo's IC cards: a pcscd of our own with two vpcd slots, and the
    cards of config/test-cards.toml (their state kept in <journal dir>/cards)."""
    from kiosk.devices.sim.cpu_card import VirtualCpuCard
    from kiosk.devices.sim.pcscd import PrivatePcscd
    from common.demo_cards import load_test_cards
    from kiosk.devices.sim.vpcd import VpcdSlot

    if pcscd is None:
        pcscd = PrivatePcscd(folder / "pcscd", base_port)
        pcscd.start()
    else:
        sims.own_pcscd = False
    sims.pcscd = pcscd
    sims.ic_slots = {"contact": VpcdSlot(pcscd.ports[0]), "contactless": VpcdSlot(pcscd.ports[1])}
    cards_dir = folder / "cards"
    wallet = load_test_cards()
    sims.ic_cards = {c.serial: VirtualCpuCard.personalise(c, cards_dir, issued=clock.today())
                     for c in wallet.ic_cards}
    sims.onecards = {c.uid: bench_onecard(c, cards_dir) for c in wallet.onecards}
    start_meters(sims, cards_dir, wallet.meter_cards, clock)


def start_meters(sims: SimDevices, cards_dir: Path, demo: tuple[DemoMeterCard, ...], clock: Clock) -> None:
    """The demo's prepaid meter cards (blank at issue) and one simulated meter
    each (empty, supply cut), kept under <cards dir>/meters and <cards dir>/meter-sims."""
    from common.meter_card import Utility
    from kiosk.devices.sim.meter import SimulatedMeter
    from kiosk.devices.sim.meter_card import VirtualMeterCard, meter_card_path

    sims_dir = cards_dir / "meter-sims"
    sims_dir.mkdir(parents=True, exist_ok=True)
    for m in demo:
        utility = Utility[m.utility.upper()]
        path = meter_card_path(cards_dir, m.meter)
        sims.meter_cards[m.meter] = VirtualMeterCard.load(path) if path.exists() else VirtualMeterCard.create(
            cards_dir, meter=m.meter, utility=utility, holder=m.house_no, name=m.name)
        state = sims_dir / f"{m.meter}.json"
        sims.meters[m.meter] = SimulatedMeter.load(state, clock) if state.exists() else SimulatedMeter.create(
            m.meter, utility, maximum=m.maximum.fen, low_credit=m.low_credit.fen, clock=clock, path=state)


def bench_onecard(entry: DemoOneCardEntry, folder: Path) -> VirtualM1Card:
    """A one-card of config/test-cards.toml: its file if it exists (its state
    survives runs), else personalised from the entry (docs/onecard.md)."""
    from kiosk.devices.sim.m1_card import VirtualM1Card
    from common.onecard import BLACK_LISTED, BLACK_OK
    from kiosk.devices.sim.m1_card_data import OneCardProfile

    path = VirtualM1Card.file_for(folder, entry.uid)
    if path.exists():
        return VirtualM1Card.load(path)
    return VirtualM1Card.create(folder, OneCardProfile(
        uid=bytes.fromhex(entry.uid), issued=entry.issued, expiry=entry.expiry, balance=entry.balance.fen,
        serial=entry.serial, house=entry.house, household_id=entry.household_id, holder=entry.holder,
        black=BLACK_LISTED if entry.black else BLACK_OK, count=entry.count), label=entry.name)


def card_reader(settings: KioskSettings, sims: SimDevices) -> Any:
    from kiosk.devices.card_reader import SerialCardReader

    device = settings.device("card_reader")
    if device.kind == "sim":
        from kiosk.devices.sim.card_reader import SimCardReader
        sims.reader = SimCardReader()
        return SerialCardReader(sims.reader.path)   # the real driver, on the simulator's pty
    return SerialCardReader(device.params["port"], device.params.get("baudrate", 9600))


def pin_pad(settings: KioskSettings, sims: SimDevices) -> Any:
    from kiosk.devices.pinpad import SerialPinPad

    device = settings.device("pin_pad")
    if device.kind == "sim":
        from kiosk.devices.sim.pinpad import SimPinPad
        sims.pinpad = SimPinPad(settings.tmk)       # the pad holds the same TMK
        return SerialPinPad(sims.pinpad.path)
    return SerialPinPad(device.params["port"], device.params.get("baudrate", 9600))


def printer(settings: KioskSettings, sims: SimDevices, receipts_dir: Path) -> Any:
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
