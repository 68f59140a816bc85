"""`kiosk sim card …`: create, list, show, and insert / remove through a real
pcscd (the session's private one, by --port)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.cli import main
from common.settings import PROJECT_ROOT
from kiosk.devices.pcsc import PcscReader
from kiosk.devices.sim.pcscd import PrivatePcscd

NEW = "00002601000000000123"


def sim(capsys: pytest.CaptureFixture[str], cards: Path, *argv: str) -> tuple[int, str]:
    code = main(["sim", "card", *argv, "--cards-dir", str(cards)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_create_show_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = sim(capsys, tmp_path, "create", "--serial", NEW.lower(), "--holder", "赵六", "--pin", "908172",
                    "--ep", "12.30", "--ed", "45.00")
    assert code == 0 and (tmp_path / f"{NEW}.json").exists()
    code, out = sim(capsys, tmp_path, "show", NEW)
    assert code == 0
    assert "¥12.30" in out and "¥45.00" in out and "3/3" in out and "no transactions yet" in out
    assert "908172" not in out                                     # never the PIN
    code, out = sim(capsys, tmp_path, "list")
    assert code == 0
    assert NEW in out and "00002601000000000001" in out and "not personalised yet" in out
    assert sim(capsys, tmp_path, "create", "--serial", NEW, "--holder", "x", "--pin", "1234")[0] == 1
    assert sim(capsys, tmp_path, "create", "--serial", "12", "--holder", "x", "--pin", "1234")[0] == 2
    assert sim(capsys, tmp_path, "show", "00002601000000000999")[0] == 1


def test_show_personalises_a_demo_card_from_the_test_cards(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out = sim(capsys, tmp_path, "show", "00002601000000000003")
    assert code == 0 and "0/3  (blocked)" in out and "¥500.00" in out


def test_insert_holds_the_card_until_remove(pcscd: PrivatePcscd, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    reader = PcscReader(pcscd.reader_names[0])
    holder = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "sim", "card", "insert", "00002601000000000001", "--reader", "contact",
         "--port", str(pcscd.ports[0]), "--cards-dir", str(tmp_path)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "is in the contact reader" in holder.stdout.readline()     # type: ignore[union-attr]
        assert reader.wait_card(present=True, timeout_s=5)
        code, out = sim(capsys, tmp_path, "insert", "00002601000000000002", "--reader", "contact")
        assert code == 1 and "already in the contact reader" in out
        assert "[in the contact reader]" in sim(capsys, tmp_path, "list")[1]
        code, out = sim(capsys, tmp_path, "remove", "--reader", "contact")
        assert code == 0 and "removed" in out
        assert holder.wait(5) == 0
        assert reader.wait_card(present=False, timeout_s=5)
        assert not (tmp_path / "reader-contact.pid").exists()
        assert "no card is held" in sim(capsys, tmp_path, "remove", "--reader", "contact")[1]
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        reader.close()
