"""Links off the machine are encrypted (issue 16, deliverable 6): the host
serves HTTPS with the certificate and key its config names; the kiosk checks
the host's certificate against the CA its config names and refuses to start
with a plain http:// host anywhere but on this machine. Tried against the real
host over TLS on loopback, with a throw-away PKI (tests/support/tls.py)."""
from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from common.settings import CONFIG_DIR, PROJECT_ROOT, ConfigError
from host.app import create_app
from host.config import load_host_settings
from host.db import make_engine
from host.server import HostServer
from kiosk.backend_client.tls import host_verification
from kiosk.config import load_kiosk_settings
from kiosk.domain.errors import HostUnavailable
from tests.support.clocks import TODAY, running_from
from tests.support.kiosks import BillKiosk
from tests.support.tls import Pki, make_pki

KIOSK, TMK = "KIOSK-DEMO-01", bytes.fromhex("7DF0AC87953F75AECD424B5A3BBFF50B")   # config/host.demo.toml


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def https_host(pki: Pki, demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostServer]:
    db = tmp_path_factory.mktemp("tls-host") / "host.sqlite3"
    shutil.copy(demo_db, db)
    settings = dataclasses.replace(load_host_settings(), database_url=f"sqlite:///{db}",
                                   tls=(str(pki.host_cert), str(pki.host_key)))
    engine = make_engine(settings.database_url)
    with HostServer(create_app(settings, engine, clock=running_from(TODAY)), tls=settings.tls) as server:
        yield server
    engine.dispose()


async def test_a_kiosk_looks_a_bill_up_over_https_trusting_only_its_ca(https_host: HostServer, pki: Pki) -> None:
    assert https_host.url.startswith("https://127.0.0.1:")
    kiosk = BillKiosk(https_host.url, KIOSK, TMK, verify=host_verification(https_host.url, str(pki.ca)))
    try:
        assert (await kiosk.bills.lookup("3-2-1202")).total_due.fen > 0
    finally:
        await kiosk.aclose()


async def test_a_host_whose_certificate_another_ca_signed_is_refused_before_anything_is_sent(
        https_host: HostServer, pki: Pki) -> None:
    """An impostor on the estate network with a certificate of its own: the
    handshake fails, so neither the sign-on nor the look-up leaves the kiosk."""
    kiosk = BillKiosk(https_host.url, KIOSK, TMK, verify=host_verification(https_host.url, str(pki.other_ca)))
    try:
        with pytest.raises(HostUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await kiosk.bills.lookup("3-2-1202")
    finally:
        await kiosk.aclose()


def test_plain_http_only_to_this_machine(tmp_path: Path) -> None:
    def kiosk_file(host_lines: str) -> Path:
        text = (CONFIG_DIR / "kiosk.demo.toml").read_text(encoding="utf-8")
        head, _, rest = text.partition("[host]\n")
        rest = rest[rest.index("\n[") + 1:]          # the demo's [host] lines replaced by ours
        (tmp_path / "kiosk.toml").write_text(f"{head}[host]\n{host_lines}\n{rest}".replace("demo = true\n", ""),
                                             encoding="utf-8")
        return tmp_path / "kiosk.toml"

    for url in ("http://192.168.1.5:8700", "http://host.estate.lan", "http://10.0.0.1"):
        with pytest.raises(ConfigError, match="plain http:// is allowed only to this machine"):
            load_kiosk_settings(kiosk_file(f'url = "{url}"'))
    with pytest.raises(ConfigError, match="host.ca_file: cannot be read"):
        load_kiosk_settings(kiosk_file('url = "https://host.estate.lan"\nca_file = "/nonexistent/ca.pem"'))
    with pytest.raises(ConfigError, match="host.ca_file: applies to an https:// host url only"):
        load_kiosk_settings(kiosk_file('url = "http://127.0.0.1:8700"\nca_file = "config/x.pem"'))


def test_loopback_http_and_https_with_a_ca_are_accepted(tmp_path: Path, pki: Pki) -> None:
    from common.settings import http_url
    assert [http_url(u) for u in ("http://127.0.0.1:8700", "http://localhost", "http://[::1]:80",
                                  "http://127.0.0.2", "https://host.estate.lan")] == [None] * 5
    assert http_url("ftp://127.0.0.1") is not None and http_url("http://") is not None
    settings = load_kiosk_settings()
    assert settings.host.ca_file == ""                     # the demo: loopback, no TLS
    assert host_verification("https://host.estate.lan", str(pki.ca)) is not True


def host_file(tmp_path: Path, lines: str, db: Path | None = None, port: int = 8700) -> Path:
    text = (CONFIG_DIR / "host.demo.toml").read_text(encoding="utf-8")
    text = text.replace("listen_port = 8700", f"listen_port = {port}\n{lines}", 1)
    if db is not None:
        text = text.replace('url = "sqlite:///var/host.sqlite3"', f'url = "sqlite:///{db}"', 1)
    path = tmp_path / "host.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_host_takes_its_certificate_and_key_together(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(ConfigError, match="host.tls_key: tls_cert and tls_key go together"):
        load_host_settings(host_file(tmp_path, f'tls_cert = "{pki.host_cert}"'))
    with pytest.raises(ConfigError, match="host.tls_cert: cannot load the certificate and its key"):
        load_host_settings(host_file(tmp_path, f'tls_cert = "{pki.ca}"\ntls_key = "{pki.host_key}"'))
    settings = load_host_settings(host_file(tmp_path, f'tls_cert = "{pki.host_cert}"\ntls_key = "{pki.host_key}"'))
    assert settings.tls == (str(pki.host_cert), str(pki.host_key))
    assert settings.console.secure_cookies             # served over HTTPS: staff cookies are Secure
    assert not load_host_settings().console.secure_cookies


def test_kiosk_host_serve_serves_https(tmp_path: Path, pki: Pki, demo_db: Path) -> None:
    shutil.copy(demo_db, tmp_path / "host.sqlite3")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = host_file(tmp_path, f'tls_cert = "{pki.host_cert}"\ntls_key = "{pki.host_key}"',
                       db=tmp_path / "host.sqlite3", port=port)
    process = subprocess.Popen([sys.executable, "-m", "host", "--config", str(config), "serve"],
                               cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    try:
        assert process.stdout is not None
        assert f"on https://127.0.0.1:{port}" in process.stdout.readline()
        verify = host_verification(f"https://127.0.0.1:{port}", str(pki.ca))
        for _ in range(100):     # the banner comes just before uvicorn binds
            try:
                reply = httpx.get(f"https://127.0.0.1:{port}/api/v1/health", verify=verify, timeout=2)
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert reply.status_code == 200
        with pytest.raises(httpx.TransportError):      # the port speaks TLS only
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
    finally:
        process.terminate()
        process.wait(10)
