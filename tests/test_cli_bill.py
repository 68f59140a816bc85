"""`kiosk bill HOUSE --host URL` as staff and scripts run it: a real process
against the real reference host over loopback HTTP, signed on as the kiosk of
its --config (the demo kiosk, its counter in the session's journal)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.cli import EXIT_ERROR, EXIT_HOST_DOWN, EXIT_OK, EXIT_USAGE
from tests.support.kiosks import DEMO, demo_kiosk_config, host_bill


@pytest.fixture
def config(tmp_path: Path, demo_kiosk_journal: Path) -> str:
    """The demo kiosk's keys and the session's journal; its URL a closed port
    (--host says where the host is)."""
    return str(demo_kiosk_config(tmp_path, journal=demo_kiosk_journal, url="http://127.0.0.1:9"))


def kiosk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, timeout=60)


def test_prints_the_itemized_bill_with_the_hosts_total(reference_host, config):
    expected = host_bill(reference_host, "3-2-1202")
    done = kiosk("bill", "3-2-1202", "--host", reference_host.url, "--config", config)
    assert done.returncode == EXIT_OK, done.stderr
    total_line = next(line for line in done.stdout.splitlines() if "TOTAL DUE" in line)
    assert total_line.split()[-1] == f"{expected['total_due_fen'] // 100}.{expected['total_due_fen'] % 100:02d}"
    for utility in ("Water", "Electricity", "Gas", "Property fee"):
        assert utility in done.stdout
    assert f"Arrears {expected['arrears'][0]['period']}" in done.stdout


def test_json_output_for_scripts(reference_host, config):
    expected = host_bill(reference_host, "3-2-1202")
    done = kiosk("bill", "3-2-1202", "--host", reference_host.url, "--json", "--config", config)
    assert done.returncode == EXIT_OK, done.stderr
    assert json.loads(done.stdout)["total_due"]["fen"] == expected["total_due_fen"]


@pytest.mark.parametrize("house, code, words", [
    ("99-9-9999", EXIT_ERROR, "HouseNotFound"),
    ("3-2", EXIT_ERROR, "BadHouseNumber"),
])
def test_refusals(reference_host, config, house, code, words):
    done = kiosk("bill", house, "--host", reference_host.url, "--config", config)
    assert done.returncode == code
    assert words in done.stderr and done.stdout == ""


def test_host_down_exit_code(unused_tcp_port, config):
    done = kiosk("bill", "3-2-1202", "--host", f"http://127.0.0.1:{unused_tcp_port}", "--config", config)
    assert done.returncode == EXIT_HOST_DOWN
    assert "unavailable" in done.stderr


def test_bad_config_names_file_and_key(tmp_path):
    bad = tmp_path / "kiosk.toml"
    bad.write_text("[kiosk]\nid = 'K'\nestate_name = 'x'\n[host]\nurl = 'nope'\n", encoding="utf-8")
    done = kiosk("bill", "3-2-1202", "--config", str(bad))
    assert done.returncode == EXIT_USAGE
    assert f"{bad}: host.url: must be an http:// or https:// URL" in done.stderr


def test_a_config_without_keys_says_the_look_up_is_signed(tmp_path, reference_host):
    keyless = tmp_path / "kiosk.toml"
    keyless.write_text(f"demo = true\n[kiosk]\nid = '{DEMO.kiosk_id}'\nestate_name = 'x'\n"
                       f"[host]\nurl = '{reference_host.url}'\n", encoding="utf-8")
    done = kiosk("bill", "3-2-1202", "--config", str(keyless))
    assert done.returncode == EXIT_USAGE and done.stdout == ""
    assert "signed with the kiosk's keys" in done.stderr and "security.tmk: is required" in done.stderr


def test_a_kiosk_the_host_does_not_know_gets_no_bill(tmp_path, reference_host):
    """Keys of a kiosk outside the host's fleet: refused, nothing printed."""
    stranger = demo_kiosk_config(tmp_path, journal=tmp_path / "journal.sqlite3", url=reference_host.url)
    stranger.write_text(stranger.read_text(encoding="utf-8").replace(DEMO.kiosk_id, "KIOSK-STRANGER"),
                        encoding="utf-8")
    done = kiosk("bill", "3-2-1202", "--config", str(stranger))
    assert done.returncode == EXIT_ERROR and done.stdout == ""
    assert "NotSignedOn" in done.stderr     # the host answered unsigned: it knows no key of ours
