"""`kiosk sim card create --type m1 …`, list and show (a sector dump) for the
virtual one-cards; insert works as for CPU cards (the contactless reader),
checked end to end in test_sim_cli.py's way by test_onecard_pcsc.py's slot."""
from __future__ import annotations

from pathlib import Path

import pytest

from common.onecard_blocks import decode_value
from kiosk.cli import main
from kiosk.devices.sim.m1_card import VirtualM1Card


def sim(capsys: pytest.CaptureFixture[str], cards: Path, *argv: str) -> tuple[int, str]:
    code = main(["sim", "card", *argv, "--cards-dir", str(cards)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_create_list_and_show_a_one_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = sim(capsys, tmp_path, "create", "--type", "m1", "--uid", "a1b2c3d4", "--holder", "张三",
                    "--balance", "123.45", "--house", "3-2-1202", "--household-id", "1202", "--name", "funded")
    assert code == 0, out
    card = VirtualM1Card.load(tmp_path / "m1-A1B2C3D4.json")
    assert decode_value(card.block(8)) == (12345, 8) and card.holder == "张三"
    code, out = sim(capsys, tmp_path, "list")
    assert code == 0 and "A1B2C3D4" in out and "¥123.45" in out and "funded" in out
    code, out = sim(capsys, tmp_path, "show", "A1B2C3D4")
    assert code == 0
    assert "house 3-2-1202  household 1202" in out and "purse 12345 fen" in out and "flag 02" in out
    assert " 8  39 30 00 00 C6 CF FF FF 39 30 00 00 08 F7 08 F7" in out      # the value block, dumped
    assert "sector 15" in out


def test_create_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("create", "--type", "m1", "--holder")
    assert sim(capsys, tmp_path, *base, "x")[0] == 2                                   # no UID
    code, out = sim(capsys, tmp_path, *base, "欧阳九个汉字的名字", "--uid", "11223344")
    assert code == 2 and "over 16" in out
    assert sim(capsys, tmp_path, *base, "x", "--uid", "11223344", "--balance", "167772.16")[0] == 2   # 3 bytes
    assert sim(capsys, tmp_path, *base, "x", "--uid", "11223344", "--black")[0] == 0
    assert sim(capsys, tmp_path, *base, "x", "--uid", "11223344")[0] == 1                # exists
    assert "black 04" in sim(capsys, tmp_path, "show", "11223344")[1]
    assert sim(capsys, tmp_path, "create", "--holder", "x", "--serial", "1")[0] == 2      # a CPU card needs a PIN
