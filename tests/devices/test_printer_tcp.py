"""The real driver (python-escpos Network + EscposReceiptPrinter) against the
simulated network printer, over real TCP on loopback."""
from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from escpos.printer import Network
from PIL import Image

from kiosk.devices.escpos_receipt import build_receipt
from kiosk.devices.ports import PaperStatus
from kiosk.devices.printer import EscposReceiptPrinter, open_printer
from kiosk.devices.sim.printer import DOTS, MARGIN, SimPrinter
from common.bank_card import mask_pan
from kiosk.domain.errors import PaperOut, PrinterFault
from common.money import Money
from kiosk.domain.receipt import Receipt, ReceiptItem

FULL_PAN = "6228480402564890018"
RECEIPT = Receipt(
    estate="阳光花园小区", kiosk_id="K001", when=datetime(2026, 11, 21, 10, 30, 5),
    house_no="3-2-1202",
    items=(ReceiptItem("水费 2026-10", Money(4520)), ReceiptItem("电费 2026-10", Money(12345)),
           ReceiptItem("物业管理费 2026-11", Money(98000)), ReceiptItem("滞纳金", Money(150))),
    total=Money(115015), masked_pan=mask_pan(FULL_PAN), txn_id="K001-20261121-000042",
    reference="123456789012", auth_code="A1B2C3",
)
STATUS_PAPER = b"\x10\x04\x04"


class RecordingNetwork(Network):
    """The library's Network transport, noting every `_raw` write (a spy on the
    outside library, not a fake: the bytes still go over TCP)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.writes: list[bytes] = []

    def _raw(self, msg: bytes) -> None:
        self.writes.append(bytes(msg))
        super()._raw(msg)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimPrinter]:
    with SimPrinter(tmp_path / "receipts") as printer:
        yield printer


@pytest.fixture
def wire(sim: SimPrinter) -> RecordingNetwork:
    return RecordingNetwork(sim.host, sim.port, timeout=2)


@pytest.fixture
async def printer(wire: RecordingNetwork) -> AsyncIterator[EscposReceiptPrinter]:
    adapter = EscposReceiptPrinter(wire)
    yield adapter
    await adapter.close()


async def test_receipt_round_trips_with_chinese_text(sim: SimPrinter, printer: EscposReceiptPrinter) -> None:
    await printer.print_receipt(RECEIPT)
    got = sim.wait_for_receipt(5)
    for expected in ("阳光花园小区", "3-2-1202", "水费 2026-10", "45.20", "电费 2026-10", "123.45",
                     "物业管理费 2026-11", "980.00", "滞纳金", "1.50", "合计 TOTAL", "1150.15",
                     "622848*********0018", "123456789012", "A1B2C3", "K001-20261121-000042",
                     "交易以银行记录为准"):
        assert expected in got.text
    assert got.text.splitlines()[0] == "阳光花园小区"
    assert got.png_path is not None and got.png_path.stat().st_size > 0
    assert got.png_path.with_suffix(".txt").read_text(encoding="utf-8").startswith("阳光花园小区\n")
    with Image.open(got.png_path) as img:
        assert img.width == DOTS[32] + 2 * MARGIN       # 384-dot head of a 58 mm printer
        assert img.height > 400


async def test_gb18030_bytes_on_the_wire(sim: SimPrinter, printer: EscposReceiptPrinter) -> None:
    await printer.print_receipt(RECEIPT)
    raw = sim.wait_for_receipt(5).raw
    assert "滞纳金".encode("gb18030") in raw
    assert "交易以银行记录为准".encode("gb18030") in raw
    assert "滞纳金".encode() not in raw


async def test_sent_as_one_buffer(sim: SimPrinter, printer: EscposReceiptPrinter, wire: RecordingNetwork) -> None:
    await printer.print_receipt(RECEIPT)
    got = sim.wait_for_receipt(5)
    # The driver wrote the status query, then the whole receipt in one write...
    assert wire.writes == [STATUS_PAPER, build_receipt(RECEIPT)]
    # ...and the printer received exactly that buffer, nothing interleaved.
    assert got.raw == build_receipt(RECEIPT)
    assert len(sim.receipts) == 1


async def test_full_pan_never_on_the_wire(sim: SimPrinter, printer: EscposReceiptPrinter,
                                          wire: RecordingNetwork) -> None:
    await printer.print_receipt(RECEIPT)
    got = sim.wait_for_receipt(5)
    sent = b"".join(wire.writes)
    for data in (sent, got.raw):
        assert FULL_PAN.encode() not in data
        assert FULL_PAN[6:-4].encode() not in data   # not even the hidden middle digits
    assert FULL_PAN not in got.text


async def test_paper_ok_and_near_end(sim: SimPrinter, printer: EscposReceiptPrinter) -> None:
    assert await printer.paper_status() is PaperStatus.OK
    sim.paper = PaperStatus.NEAR_END
    assert await printer.paper_status() is PaperStatus.NEAR_END
    await printer.print_receipt(RECEIPT)
    assert "阳光花园小区" in sim.wait_for_receipt(5).text


async def test_paper_out_raises_before_anything_is_printed(sim: SimPrinter, printer: EscposReceiptPrinter,
                                                           wire: RecordingNetwork) -> None:
    sim.paper = PaperStatus.OUT
    assert await printer.paper_status() is PaperStatus.OUT
    with pytest.raises(PaperOut):
        await printer.print_receipt(RECEIPT)
    assert wire.writes == [STATUS_PAPER, STATUS_PAPER]      # no print data sent
    sim.paper = PaperStatus.OK                               # paper reloaded
    await printer.print_receipt(RECEIPT)
    assert sim.wait_for_receipt(5).number == 1


def test_sim_discards_print_data_when_out_of_paper(sim: SimPrinter) -> None:
    """A driver that ignores the status still gets nothing printed."""
    raw = Network(sim.host, sim.port, timeout=2)
    raw.open()
    try:
        sim.paper = PaperStatus.OUT
        raw._raw(build_receipt(RECEIPT))
        # The sim handles a connection's bytes in order: once this status answer
        # arrives, the job before it has been dealt with.
        assert raw.query_status(STATUS_PAPER) == b"\x7e"
        assert sim.receipts == [] and sim.discarded == 1
    finally:
        raw.close()


async def test_offline_is_a_printer_fault_and_it_recovers(sim: SimPrinter, printer: EscposReceiptPrinter) -> None:
    assert await printer.paper_status() is PaperStatus.OK      # connection open
    sim.offline = True
    with pytest.raises(PrinterFault):                          # open connection dropped
        await printer.paper_status()
    with pytest.raises(PrinterFault) as fault:                 # reconnect refused
        await printer.print_receipt(RECEIPT)
    assert not isinstance(fault.value, PaperOut)
    assert sim.receipts == []
    sim.offline = False
    assert await printer.paper_status() is PaperStatus.OK      # reconnects by itself
    await printer.print_receipt(RECEIPT)
    assert "阳光花园小区" in sim.wait_for_receipt(5).text


async def test_offline_from_the_start(sim: SimPrinter) -> None:
    sim.offline = True
    # The [devices.printer] config names, as bootstrap passes them.
    adapter = open_printer("network", host=sim.host, tcp_port=sim.port, timeout=2, columns=32)
    with pytest.raises(PrinterFault):
        await adapter.paper_status()
    sim.offline = False
    assert await adapter.paper_status() is PaperStatus.OK
    await adapter.close()


async def test_receipts_numbered_and_listener_called(tmp_path: Path) -> None:
    seen: list[tuple[str, Path | None]] = []
    with SimPrinter(tmp_path, on_receipt=lambda text, png: seen.append((text, png))) as sim:
        adapter = EscposReceiptPrinter(Network(sim.host, sim.port, timeout=2))
        await adapter.print_receipt(RECEIPT)
        await adapter.print_receipt(RECEIPT)
        first, second = sim.wait_for_receipt(5), sim.wait_for_receipt(5)
        await adapter.close()
    assert (first.number, second.number) == (1, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0001.png", "0001.txt", "0002.png", "0002.txt"]
    assert [png for _, png in seen] == [tmp_path / "0001.png", tmp_path / "0002.png"]
    with Image.open(io.BytesIO(first.png)) as img:
        assert img.format == "PNG"


def test_open_printer_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError):
        open_printer("parallel")


def test_open_printer_maps_config_names_for_serial() -> None:
    adapter = open_printer("serial", port="/dev/ttyS2", baudrate=19200, columns=48)
    device = adapter.device
    assert (device.devfile, device.baudrate, adapter.columns) == ("/dev/ttyS2", 19200, 48)
