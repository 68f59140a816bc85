"""Lay a Receipt out as one ESC/POS byte buffer (pure: no I/O, deterministic).

Why this shape:
- Control sequences come from python-escpos (a `Dummy` printer records what the
  library emits), so we send exactly what the library's own methods send.
- Text is encoded by us in GB18030 and written raw. Chinese thermal printers in
  Chinese character mode (FS &) take GB18030/GBK double-byte text; the library's
  "magic encoding" picks single-byte codepages and has no GB18030 entry.
- Size is set with GS ! (not ESC !): in Chinese mode ESC ! only scales the
  single-byte (ANK) characters, GS ! scales both.
- Columns: a printer prints a one-byte character in one column and a multi-byte
  (GB18030 2- or 4-byte) character as a full-width glyph in two.
"""
from __future__ import annotations

import re

from escpos.constants import FS
from escpos.printer import Dummy

from kiosk.domain.receipt import Receipt

ENCODING = "gb18030"
CHINESE_MODE_ON = FS + b"&"    # FS &: select Chinese character mode
CHINESE_MODE_OFF = FS + b"."   # FS .: cancel it
COLUMNS_58MM = 32              # font A (12x24) on 384 dots
COLUMNS_80MM = 48              # font A on 576 dots

# "label  123.45" as produced by Receipt.lines(): re-laid out so the amount sits
# flush right for the printer's real width, whatever the label's width.
_AMOUNT_LINE = re.compile(r"^(?P<label>.*\S)\s{2,}(?P<amount>-?\d+\.\d{2})$")
_RULE = re.compile(r"^-{8,}$")


def text_columns(text: str) -> int:
    """Printed width in columns: 1 for a one-byte (ASCII) char, 2 for a Chinese one."""
    return sum(1 if ord(ch) < 0x80 else 2 for ch in text)


def amount_line(label: str, amount: str, columns: int) -> list[str]:
    """`label` left, `amount` flush right; on two lines if they do not fit on one."""
    gap = columns - text_columns(label) - text_columns(amount)
    if gap >= 1:
        return [label + " " * gap + amount]
    return [label, " " * max(columns - text_columns(amount), 0) + amount]


def layout_lines(receipt: Receipt, columns: int = COLUMNS_58MM) -> list[str]:
    """Receipt.lines() after the estate name, fitted to `columns`."""
    out: list[str] = []
    for line in receipt.lines()[1:]:
        if _RULE.match(line):
            out.append("-" * columns)
        elif m := _AMOUNT_LINE.match(line):
            out += amount_line(m["label"], m["amount"], columns)
        else:
            out.append(line)   # longer lines wrap on the printer itself
    return out


def build_receipt(receipt: Receipt, columns: int = COLUMNS_58MM) -> bytes:
    """The whole receipt, from ESC @ to the cut, as one buffer."""
    p = Dummy()
    p.hw("INIT")                                    # ESC @: known state
    p._raw(CHINESE_MODE_ON)
    # Estate name: centred, bold, double width and height.
    p.set(align="center", bold=True, custom_size=True, width=2, height=2)
    p._raw(receipt.estate.encode(ENCODING) + b"\n")
    p.set(bold=False, custom_size=True, width=1, height=1)
    align = "center"
    for i, line in enumerate(layout_lines(receipt, columns)):
        # The title (and the reprint mark) centred under the estate name, the
        # rest left; ESC a only when the alignment changes.
        want = "center" if i == 0 or (receipt.reprint and i == 1) else "left"
        if want != align:
            p.set(align=want)
            align = want
        p._raw(line.encode(ENCODING) + b"\n")
    # cut(): ESC d 6 (feed past the cutter) then GS V 1 (partial cut).
    p.cut(mode="PART")
    return p.output
