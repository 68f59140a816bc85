"""`kiosk bill HOUSE --host URL` as staff and scripts run it: a real process
against the real reference host over loopback HTTP."""
import json
import subprocess
import sys

import httpx
import pytest

from kiosk.cli import EXIT_ERROR, EXIT_HOST_DOWN, EXIT_OK, EXIT_USAGE


def kiosk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, timeout=60)


def test_prints_the_itemized_bill_with_the_hosts_total(reference_host):
    expected = httpx.get(f"{reference_host.url}/api/v1/households/3-2-1202/bill").json()
    done = kiosk("bill", "3-2-1202", "--host", reference_host.url)
    assert done.returncode == EXIT_OK, done.stderr
    total_line = next(line for line in done.stdout.splitlines() if "TOTAL DUE" in line)
    assert total_line.split()[-1] == f"{expected['total_due_fen'] // 100}.{expected['total_due_fen'] % 100:02d}"
    for utility in ("Water", "Electricity", "Gas", "Property fee"):
        assert utility in done.stdout
    assert f"Arrears {expected['arrears'][0]['period']}" in done.stdout


def test_json_output_for_scripts(reference_host):
    expected = httpx.get(f"{reference_host.url}/api/v1/households/3-2-1202/bill").json()
    done = kiosk("bill", "3-2-1202", "--host", reference_host.url, "--json")
    assert done.returncode == EXIT_OK, done.stderr
    assert json.loads(done.stdout)["total_due"]["fen"] == expected["total_due_fen"]


@pytest.mark.parametrize("house, code, words", [
    ("99-9-9999", EXIT_ERROR, "HouseNotFound"),
    ("3-2", EXIT_ERROR, "BadHouseNumber"),
])
def test_refusals(reference_host, house, code, words):
    done = kiosk("bill", house, "--host", reference_host.url)
    assert done.returncode == code
    assert words in done.stderr and done.stdout == ""


def test_host_down_exit_code(unused_tcp_port):
    done = kiosk("bill", "3-2-1202", "--host", f"http://127.0.0.1:{unused_tcp_port}")
    assert done.returncode == EXIT_HOST_DOWN
    assert "unavailable" in done.stderr


def test_bad_config_names_file_and_key(tmp_path):
    bad = tmp_path / "kiosk.toml"
    bad.write_text("[kiosk]\nid = 'K'\nestate_name = 'x'\n[host]\nurl = 'nope'\n", encoding="utf-8")
    done = kiosk("bill", "3-2-1202", "--config", str(bad))
    assert done.returncode == EXIT_USAGE
    assert f"{bad}: host.url: must start with http" in done.stderr
