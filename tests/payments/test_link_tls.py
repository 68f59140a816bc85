"""The reference front-end with TLS on the link ([bank] link_tls_cert,
link_tls_key, link_client_ca; docs/bank-link.md "TLS on the link"), beside the
demo host's plain one on the same database: a plain terminal is refused at the
handshake (logged, no traceback, no hang) and the front-end serves on; with
link_client_ca a kiosk signs on only with a certificate the CA signed."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.bank8583 import fields as fld
from common.bank8583.codec import Message
from common.bank8583.wire import build
from kiosk.backend_client.bank8583.client import BankLink
from kiosk.backend_client.bank8583.settings import LinkSettings
from kiosk.backend_client.bank8583.tls import LinkTls
from kiosk.config import load_kiosk_settings
from kiosk.domain.errors import BankNoReply, BankUnavailable
from kiosk.services.journal import Journal
from tests.support.bank8583 import HEADER, MERCHANT, REQUEST_TPDU, TERMINAL, FrontEndThread, Terminal, tls_front_end
from tests.support.clocks import TODAY, running_from
from tests.support.tls import Pki, make_pki

SERVER_LOG = "host.bank.frontend.server"
CLOCK = running_from(TODAY)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def front_ends(start_host: Any, tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[dict[str, Any]]:
    """One demo host; its TLS front-end and its mutual-TLS one."""
    server = start_host(tmp_path_factory.mktemp("tls-link-host"))
    tls = tls_front_end(server, pki.host_cert, pki.host_key)
    mutual = tls_front_end(server, pki.host_cert, pki.host_key, pki.ca)
    yield {"server": server, "tls": tls, "mutual": mutual}
    for thread in (tls, mutual, server.bank):
        thread.stop()
    if server.running:
        server.stop()
    server.engine.dispose()


def kiosk_link(front_end: FrontEndThread, journal: Journal, tls: LinkTls) -> BankLink:
    """The demo kiosk's terminal (KIOSK001, its TMK) over TLS to `front_end`."""
    settings = LinkSettings(host="127.0.0.1", port=front_end.port, terminal_id=TERMINAL, merchant_id=MERCHANT,
                            tmk=load_kiosk_settings().tmk, reply_timeout_s=5.0, tls=tls)
    return BankLink(settings, journal, CLOCK)


def handshake_refusals(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    """The front-end's "TLS handshake … failed" records, once `count` are in: it
    logs on its own thread, just after asyncio has closed the socket."""
    deadline = time.monotonic() + 5.0
    while True:
        found = [r for r in caplog.records if r.name == SERVER_LOG and "TLS handshake" in r.getMessage()]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def sessions(server: Any) -> list[Any]:
    with server.engine.connect() as conn:
        return list(conn.exec_driver_sql("SELECT * FROM bank_link_sessions ORDER BY terminal_id"))


async def test_a_plain_terminal_is_refused_at_the_handshake_logged_without_a_traceback(
        front_ends: dict[str, Any], pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server, front_end = front_ends["server"], front_ends["tls"]
    before = sessions(server)
    sign_on = build(REQUEST_TPDU, HEADER, Message("0800", {
        11: "000001", 41: TERMINAL, 42: MERCHANT,
        60: fld.Field60(fld.TYPE_MANAGEMENT, "000001", fld.NET_SIGN_ON).encode(), 63: "01"}), None)
    with caplog.at_level(logging.INFO, logger=SERVER_LOG):
        started = time.monotonic()
        answer = Terminal(front_end.port).send_raw(sign_on, timeout=5.0)
        elapsed = time.monotonic() - started
        refused = handshake_refusals(caplog, 1)
    assert elapsed < 2.0                                  # closed at once, not at a timeout
    assert answer[:1] in (b"", b"\x15")                   # nothing, or a TLS alert: never an 0810
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert sessions(server) == before                     # nothing was read as a frame

    # and the front-end serves on: the kiosk over TLS signs on
    journal = Journal(tmp_path / "journal.sqlite3", CLOCK)
    link = kiosk_link(front_end, journal, LinkTls(str(pki.ca)))
    try:
        keys = await link.sign_on()
        assert keys.pin_key_wrapped
    finally:
        await link.aclose()
        journal.close()


async def test_mutual_tls_signs_on_a_kiosk_with_its_certificate_and_refuses_one_without(
        front_ends: dict[str, Any], pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server, front_end = front_ends["server"], front_ends["mutual"]
    journal = Journal(tmp_path / "journal.sqlite3", CLOCK)
    before = sessions(server)
    anonymous = kiosk_link(front_end, journal, LinkTls(str(pki.ca)))
    with caplog.at_level(logging.INFO, logger=SERVER_LOG):
        try:
            # TLS 1.3: the kiosk's handshake is done before the front-end checks its
            # (missing) certificate, and asyncio closes without the alert, so the
            # kiosk sees its 0800 unanswered (docs/bank-link.md "TLS on the link")
            with pytest.raises(BankNoReply):
                await anonymous.sign_on()
        finally:
            await anonymous.aclose()
        refused = handshake_refusals(caplog, 1)
    assert sessions(server) == before
    assert [r.levelno for r in refused] == [logging.WARNING] and "CERTIFICATE" in refused[0].getMessage()
    link = kiosk_link(front_end, journal, LinkTls(str(pki.ca), str(pki.client_cert), str(pki.client_key)))
    try:
        await link.sign_on()
    finally:
        await link.aclose()
        journal.close()
    assert sessions(server) != before                     # signed on: its session's keys are new


async def test_a_tls_kiosk_at_a_plain_front_end_sends_no_frame(front_ends: dict[str, Any], pki: Pki,
                                                               tmp_path: Path) -> None:
    """Its ClientHello reads as a LEN over link_max_frame: the plain front-end
    closes unread, the kiosk's handshake fails: a link failure, nothing sent."""
    server = front_ends["server"]
    before = sessions(server)
    journal = Journal(tmp_path / "journal.sqlite3", CLOCK)
    link = kiosk_link(server.bank, journal, LinkTls(str(pki.ca)))
    try:
        with pytest.raises(BankUnavailable):
            await link.sign_on()
    finally:
        await link.aclose()
        journal.close()
    assert sessions(server) == before
