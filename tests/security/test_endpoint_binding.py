"""A signed message is good for the endpoint it was signed for only: its X-MAC
covers `POST <path>` and the body (common.crypto.request_mac). Found in a
penetration test: a signed heartbeat replayed to /api/v1/cards/blacklist was
accepted and moved the bank channel's counter."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.databases import BACKENDS, Databases
from tests.support.fleet import SignedKiosk

from common.crypto import mac_x919, request_mac

KIOSK = "KIOSK-DEMO-01"
TMK = bytes.fromhex("7DF0AC87953F75AECD424B5A3BBFF50B")   # the demo's published TMK (config/host.demo.toml)
pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL

HEARTBEAT, BLACKLIST, BACKUP = "/api/v1/fleet/heartbeat", "/api/v1/cards/blacklist", "/api/v1/property/transactions"


@pytest.fixture
def kiosk(tmp_path: Path, start_host: Any, backend: str, databases: Databases) -> Iterator[SignedKiosk]:
    server = start_host(tmp_path, backend=backend)          # the demo host: bank, card centre and fleet
    kiosk = SignedKiosk(server.url, KIOSK, TMK)
    kiosk.sign_on()
    try:
        yield kiosk
    finally:
        kiosk.close()
        server.bank.stop()
        server.stop()
        server.engine.dispose()
        databases.release(server.db_url)


def test_a_heartbeat_replayed_to_the_card_centre_is_refused_and_moves_no_counter(kiosk: SignedKiosk) -> None:
    raw = kiosk.heartbeat_body(screen="idle")
    mac = request_mac(kiosk.mak, HEARTBEAT, raw).hex().upper()
    replayed = kiosk.send(BLACKLIST, raw, None, mac=mac)
    assert replayed.status == 401 and replayed.json["error"] == "bad_mac"
    # the bank channel's counter did not move: the genuine heartbeat and then a
    # blacklist request with the next counter are still taken
    assert kiosk.send(HEARTBEAT, raw, None, mac=mac).status == 200
    assert kiosk.send(BLACKLIST, kiosk.body({"since": 0}), kiosk.mak).status == 200


def test_a_message_signed_for_one_endpoint_is_refused_on_another(kiosk: SignedKiosk) -> None:
    raw = kiosk.body({"txn": {"txn_id": "BIND-1", "house_no": "3-2-1202"}})
    for path in ("/api/v1/cards/status", BLACKLIST, HEARTBEAT):
        wrong = kiosk.send(path, raw, None, mac=request_mac(kiosk.mak, BACKUP, raw).hex())
        assert wrong.status == 401 and wrong.json["error"] == "bad_mac", path
    body_only = kiosk.send(BACKUP, raw, None, mac=mac_x919(kiosk.mak, raw).hex())   # the old, unbound MAC
    assert body_only.status == 401 and body_only.json["error"] == "bad_mac"
    assert kiosk.send(BACKUP, raw, kiosk.mak).json == {"stored": True}


def test_the_request_mac_is_x919_over_the_endpoint_line_and_the_body() -> None:
    """The wire format a bank's or a site's own implementation must reproduce."""
    key, body = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"), b'{"counter":1,"kiosk_id":"K"}'
    assert request_mac(key, BACKUP, body) == mac_x919(key, b"POST /api/v1/property/transactions\n" + body)
    assert request_mac(key, BACKUP, body) != request_mac(key, HEARTBEAT, body) != mac_x919(key, body)
