"""Byte-exact tests of the receipt layout (escpos_receipt) and the simulator's
ESC/POS decoder (escpos_decode). Pure: no sockets."""
from __future__ import annotations

from datetime import datetime

import pytest

from kiosk.devices.escpos_receipt import (
    COLUMNS_80MM,
    amount_line,
    build_receipt,
    layout_lines,
    text_columns,
)
from kiosk.devices.ports import PaperStatus
from kiosk.devices.printer import paper_from_status_byte
from kiosk.devices.sim import escpos_decode as ed
from common.money import Money
from kiosk.domain.receipt import Receipt, ReceiptItem

RECEIPT = Receipt(
    estate="阳光花园小区", kiosk_id="K001", when=datetime(2026, 11, 21, 10, 30, 5),
    house_no="3-2-1202",
    items=(ReceiptItem("水费 2026-10", Money(4520)), ReceiptItem("滞纳金", Money(150))),
    total=Money(4670), masked_pan="622848******1234", txn_id="K001-000042",
    reference="123456789012", auth_code="A1B2C3",
)


# -- layout ------------------------------------------------------------------
def test_buffer_starts_with_init_chinese_mode_and_double_size_centred_estate() -> None:
    data = build_receipt(RECEIPT)
    assert data.startswith(
        b"\x1b@"                  # ESC @ initialise
        b"\x1c&"                  # FS & Chinese character mode
        b"\x1d!\x11"              # GS ! 0x11 double width and height
        b"\x1bE\x01"              # ESC E 1 bold
        b"\x1ba\x01"              # ESC a 1 centre
        + "阳光花园小区".encode("gb18030") + b"\n"
        + b"\x1d!\x00\x1bE\x00"   # back to normal size, bold off
    )


def test_buffer_ends_with_feed_and_partial_cut() -> None:
    assert build_receipt(RECEIPT).endswith(b"The bank's journal prevails.\n" + b"\x1bd\x06\x1dV\x01")


def test_buffer_is_deterministic() -> None:
    assert build_receipt(RECEIPT) == build_receipt(RECEIPT)


def test_chinese_counts_two_columns() -> None:
    assert text_columns("滞纳金 1.50") == 11


@pytest.mark.parametrize("columns", [32, 48])
def test_amounts_are_flush_right_at_the_printer_width(columns: int) -> None:
    lines = layout_lines(RECEIPT, columns)
    for amount in ("45.20", "1.50", "46.70"):
        line = next(x for x in lines if x.endswith(" " + amount))
        assert text_columns(line) == columns
    assert "-" * columns in lines


def test_label_too_wide_puts_the_amount_on_its_own_line() -> None:
    label = "物业管理费 2026-11 (三个月预缴)"
    assert amount_line(label, "980.00", 32) == [label, " " * 26 + "980.00"]


def test_80mm_layout_is_wider() -> None:
    assert "-" * 48 in build_receipt(RECEIPT, COLUMNS_80MM).decode("gb18030")


# -- decoder -----------------------------------------------------------------
@pytest.mark.parametrize(("data", "events"), [
    (b"\x1b@", [ed.Init()]),
    (b"\x1ba\x01\x1ba\x00", [ed.Align(1), ed.Align(0)]),
    (b"\x1bE\x01\x1bE\x00", [ed.Bold(True), ed.Bold(False)]),
    (b"\x1d!\x11\x1d!\x00\x1b!\x30", [ed.CharSize(2, 2), ed.CharSize(1, 1), ed.PrintMode(0x30)]),
    (b"\x1c&\x1c.", [ed.ChineseMode(True), ed.ChineseMode(False)]),
    (b"\x1bd\x06\x1dV\x01\x1dV\x00\x1dVB\x03", [ed.Feed(6), ed.Cut(True), ed.Cut(False), ed.Cut(True)]),
    (b"\x10\x04\x04\x10\x04\x01\x1dr\x01",
     [ed.StatusQuery("DLE EOT", 4), ed.StatusQuery("DLE EOT", 1), ed.StatusQuery("GS r", 1)]),
    (b"\x1c&\xd5\xc5\xc8\xfd\r\n", [ed.ChineseMode(True), ed.Text("张三"), ed.LineFeed()]),
    (b"\x1c&\x952\x826\x0a", [ed.ChineseMode(True), ed.Text("\U00020000"), ed.LineFeed()]),  # 4-byte GB18030
    (b"Total 9.90\n", [ed.Text("Total 9.90"), ed.LineFeed()]),
    (b"\x1b3\x20ab", [ed.Unknown(b"\x1b3\x20"), ed.Text("ab")]),   # parameter not leaked into text
])
def test_decoder_byte_exact(data: bytes, events: list[ed.Event]) -> None:
    assert ed.decode(data) == events


def test_decoder_holds_split_commands_and_characters() -> None:
    data = b"\x1c&" + "房号".encode("gb18030") + b"\n\x1dV\x01"
    decoder = ed.EscposDecoder()
    events = [e for i in range(len(data)) for e in decoder.feed(data[i:i + 1])]
    assert events == [ed.ChineseMode(True), ed.Text("房"), ed.Text("号"), ed.LineFeed(), ed.Cut(True)]
    assert decoder.pending == b""


def test_decoder_spans_cover_every_byte() -> None:
    data = build_receipt(RECEIPT)
    assert b"".join(raw for _, raw in ed.EscposDecoder().feed_spans(data)) == data


def test_decoder_reads_our_own_receipt_back() -> None:
    text = "".join(e.text for e in ed.decode(build_receipt(RECEIPT)) if isinstance(e, ed.Text))
    for word in ("阳光花园小区", "3-2-1202", "滞纳金", "46.70", "622848******1234", "交易以银行记录为准"):
        assert word in text


@pytest.mark.parametrize("paper", list(PaperStatus))
def test_status_replies_read_back_by_the_library_masks(paper: PaperStatus) -> None:
    (byte,) = ed.status_reply(ed.StatusQuery("DLE EOT", 4), paper)
    assert paper_from_status_byte(byte) is paper


def test_status_reply_bytes() -> None:
    assert ed.status_reply(ed.StatusQuery("DLE EOT", 4), PaperStatus.OK) == b"\x12"
    assert ed.status_reply(ed.StatusQuery("DLE EOT", 4), PaperStatus.NEAR_END) == b"\x1e"
    assert ed.status_reply(ed.StatusQuery("DLE EOT", 4), PaperStatus.OUT) == b"\x7e"
    assert ed.status_reply(ed.StatusQuery("DLE EOT", 1), PaperStatus.OUT) == b"\x12"
    assert ed.status_reply(ed.StatusQuery("GS r", 1), PaperStatus.NEAR_END) == b"\x03"
    assert ed.status_reply(ed.StatusQuery("GS r", 1), PaperStatus.OUT) == b"\x0f"
