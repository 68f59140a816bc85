"""`kiosk host serve` starts the ISO 8583 front-end beside the HTTP app, in
the same process and event loop, and stops both on SIGTERM (host.cli)."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from common.settings import PROJECT_ROOT
from tests.support.bank8583 import TMK, Terminal
from tests.support.databases import BACKENDS, POSTGRESQL, Databases
from tests.support.host_env import TARIFFS_AND_BANK

pytestmark = pytest.mark.backends(*BACKENDS)   # `serve` on a new SQLite file and on a new PostgreSQL database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_starts_the_bank_front_end_beside_the_http_app(tmp_path: Path, backend: str,
                                                              databases: Databases) -> None:
    db = databases.pg.url(databases.pg.create_database("serve")) if backend == POSTGRESQL \
        else str(tmp_path / "h.sqlite3")
    http_port, bank_port = _free_port(), _free_port()
    toml = tmp_path / "host.toml"
    toml.write_text(f"""
demo = true
[host]
estate_name = "翠湖花园"
listen_port = {http_port}
{TARIFFS_AND_BANK}
link_port = {bank_port}

[bank.terminals]
KIOSK001 = "KIOSK-TEST-01"

[kiosks."KIOSK-TEST-01"]
tmk = "{TMK.hex().upper()}"
""", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "host", "--config", str(toml), "--db", db,
                             "serve"], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:              # the bank front-end listens before uvicorn starts
            if "Uvicorn running on" in line:
                break
        assert httpx.get(f"http://127.0.0.1:{http_port}/api/v1/health").json() == {"status": "ok"}
        terminal = Terminal(bank_port)
        assert terminal.sign_on().message.text(39) == "00"
        assert terminal.network("301").message.text(39) == "00"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    databases.release(db)
    assert proc.returncode == 0, err
    assert f"bank front-end (ISO 8583) on 127.0.0.1:{bank_port}" in out


def test_a_terminal_of_no_configured_kiosk_is_a_config_error(tmp_path: Path) -> None:
    from host.config import ConfigError, load_host_settings

    toml = tmp_path / "host.toml"
    toml.write_text(f"""
demo = true
[host]
estate_name = "翠湖花园"
{TARIFFS_AND_BANK}
link_port = 0
[bank.terminals]
KIOSK001 = "KIOSK-NOBODY"
""", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bank\.terminals\.KIOSK001.*must name a kiosk of \[kiosks\]"):
        load_host_settings(toml)
