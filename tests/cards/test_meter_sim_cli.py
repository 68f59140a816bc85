"""`kiosk sim card … --type meter`: create, show, list, and insert through the
session's private pcscd (the kiosk's meter terminal reads it there)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import PROJECT_ROOT
from kiosk.cards.meter import MeterCard
from kiosk.cli import main
from kiosk.devices.pcsc import PcscReader
from kiosk.devices.sim.meter_card import VirtualMeterCard
from kiosk.devices.sim.pcscd import PrivatePcscd
from tests.support.meters import EF01_8, EF02_C, METER, Direct, HostSigner


def sim(capsys: pytest.CaptureFixture[str], cards: Path, *argv: str) -> tuple[int, str]:
    code = main(["sim", "card", *argv, "--cards-dir", str(cards)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_create_show_and_list_a_meter_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = sim(capsys, tmp_path, "create", "--type", "meter", "--meter", METER, "--utility", "electricity",
                    "--holder", "3-2-301")
    assert code == 0 and (tmp_path / "meters" / f"{METER}.json").exists()
    code, out = sim(capsys, tmp_path, "show", METER)
    assert code == 0 and "electricity" in out and "EF 01 purchase  blank" in out and "reached the meter" in out
    card = VirtualMeterCard.in_folder(tmp_path, METER)       # a sale, then the meter's return
    MeterCard(Direct(card)).write_purchase(EF01_8.encode(), HostSigner())
    assert card.process(bytes.fromhex("00D6820018") + EF02_C.encode())[-2:] == b"\x90\x00"
    code, out = sim(capsys, tmp_path, "show", METER)
    assert "count 8  100.00 kWh  total 1,250.00 kWh" in out
    assert "last count applied 7  remaining 35.20 kWh" in out and "low credit" in out
    assert "not yet applied by the meter" in out
    code, out = sim(capsys, tmp_path, "list")
    assert code == 0 and f"{METER}" in out and "meter card, electricity  3-2-301" in out


def test_create_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sim(capsys, tmp_path, "create", "--type", "meter", "--meter", METER, "--utility", "gas")[0] == 0
    code, out = sim(capsys, tmp_path, "create", "--type", "meter", "--meter", METER, "--utility", "gas")
    assert code == 1 and "already exists" in out
    assert sim(capsys, tmp_path, "create", "--type", "meter", "--meter", "12345", "--utility", "gas")[0] == 2
    assert sim(capsys, tmp_path, "create", "--type", "meter", "--meter", METER)[0] == 2
    code, out = sim(capsys, tmp_path, "create", "--holder", "x", "--pin", "1234")   # a CPU card needs its serial
    assert code == 2 and "--serial" in out
    assert sim(capsys, tmp_path, "show", "310100099999")[0] == 1


def test_insert_a_meter_card_and_read_it_through_pcscd(pcscd: PrivatePcscd, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert sim(capsys, tmp_path, "create", "--type", "meter", "--meter", METER, "--utility", "water")[0] == 0
    reader = PcscReader(pcscd.reader_names[0])
    assert reader.wait_card(present=False, timeout_s=5)
    holder = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "sim", "card", "insert", METER, "--reader", "contact",
         "--port", str(pcscd.ports[0]), "--cards-dir", str(tmp_path)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "is in the contact reader" in holder.stdout.readline()     # type: ignore[union-attr]
        assert reader.wait_card(present=True, timeout_s=5)
        with reader.connect() as transport:
            terminal = MeterCard(transport)
            terminal.select()
            assert terminal.read_purchase().blank and terminal.read_return().blank
        assert sim(capsys, tmp_path, "remove", "--reader", "contact")[0] == 0
        assert holder.wait(5) == 0
        assert reader.wait_card(present=False, timeout_s=5)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        reader.close()

