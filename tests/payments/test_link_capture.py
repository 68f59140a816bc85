"""What crosses the kiosk↔bank link on loopback during a whole bill payment
(sign-on, purchase, reply), captured between the real kiosk and the real
reference front-end: no PIN digits, no clear PIN block, and no track digits
beyond what the contract's track encryption leaves in clear — the digits
before the encrypted 8 bytes of field 35 (a finding of BANK-8583.md §3,
docs/bank-link.md; docs/security.md). Inside TLS ([bank] link_tls, the
throw-away PKI of tests/support/tls.py) not even those, nor any other byte of
the 8583 frames, crosses in clear."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from common.bank8583.wire import parse
from common.crypto import pin_block_format0
from kiosk.bootstrap import build
from tests.support.bank8583 import tls_front_end
from tests.support.payments import GOOD, CapturingLink, Links, RunningHost, frames, kiosk_settings, pay
from tests.support.tls import Pki, make_pki

HOUSE = "3-2-1202"


async def test_a_whole_payment_leaves_no_pin_and_only_the_documented_track_digits_on_the_wire(
        tmp_path: Path, host: RunningHost) -> None:
    links = Links(host.server.port, host.server.bank_port)
    capture = CapturingLink("127.0.0.1", host.server.bank_port)
    kiosk = build(kiosk_settings(tmp_path, links.url, bank_port=capture.port), with_fleet=False)
    try:
        await kiosk.start()
        _, outcome = await pay(kiosk, HOUSE, GOOD)
        assert outcome.approved
    finally:
        await kiosk.aclose()
        links.close()
        capture.close()
    sent, received = b"".join(capture.sent), b"".join(capture.received)
    requests = [parse(f).message for f in frames(sent)]
    assert [m.mti for m in requests] == ["0800", "0200"] and len(frames(received)) == 2
    wire = sent + received
    track = GOOD.track2.strip(";?")
    digits = track.replace("=", "D")
    clear_block = pin_block_format0(GOOD.pin, GOOD.pan)
    for secret in (GOOD.pin, digits, track.split("=", 1)[1], GOOD.pan):
        assert secret.encode() not in wire                     # as ASCII
    for secret in (GOOD.pin, digits, digits[len(GOOD.pan):], track.split("=", 1)[1][:-1]):
        assert secret.upper() not in wire.hex().upper()        # as BCD / packed digits
    assert clear_block not in wire and clear_block.hex().upper() not in wire.hex().upper()
    assert all(2 not in m.fields for m in requests)             # field 2 is never sent

    # field 35: what §3 leaves in clear is the digits before the encrypted 8
    # bytes (and the last digit); the expiry, service code and the rest are sealed
    field35 = str(requests[1].fields[35])
    assert len(field35) == len(digits) and field35 != digits
    left = len(digits) - 17 if len(digits) % 2 else len(digits) - 18
    assert field35[:left] == digits[:left] and left <= len(GOOD.pan)    # only PAN digits in clear
    assert field35[left:len(digits) - 1] != digits[left:len(digits) - 1]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def test_inside_tls_a_whole_payment_leaves_no_pan_track_or_pin_digits_on_the_wire(
        tmp_path: Path, host: RunningHost, pki: Pki) -> None:
    front_end = tls_front_end(host.server, pki.host_cert, pki.host_key)
    links = Links(host.server.port, front_end.port)
    capture = CapturingLink("127.0.0.1", front_end.port)
    settings = kiosk_settings(tmp_path, links.url, bank_port=capture.port)
    settings = dataclasses.replace(settings, bank=dataclasses.replace(settings.bank, link_tls=True,
                                                                      link_ca_file=str(pki.ca)))
    kiosk = build(settings, with_fleet=False)
    try:
        await kiosk.start()
        _, outcome = await pay(kiosk, HOUSE, GOOD)
        assert outcome.approved
    finally:
        await kiosk.aclose()
        links.close()
        capture.close()
        front_end.stop()
    sent, received = b"".join(capture.sent), b"".join(capture.received)
    assert sent[:1] == received[:1] == b"\x16"               # each direction opens with a TLS handshake record
    wire = sent + received
    track = GOOD.track2.strip(";?")
    digits = track.replace("=", "D")
    clear_block = pin_block_format0(GOOD.pin, GOOD.pan)
    for secret in (GOOD.pin, digits, track.split("=", 1)[1], GOOD.pan, "KIOSK001", "H=" + HOUSE):
        assert secret.encode() not in wire                     # as ASCII (41 and 63 too: the frames are sealed)
    # as BCD / packed digits: the PAN's leading digits field 35 leaves clear on plain TCP among them
    left = len(digits) - 17 if len(digits) % 2 else len(digits) - 18
    # (12 nibbles or more: a shorter run would match random ciphertext now and then)
    for secret in (digits, GOOD.pan, digits[:left], digits[len(GOOD.pan):]):
        assert len(secret) >= 12 and secret.upper() not in wire.hex().upper()
    assert clear_block not in wire and clear_block.hex().upper() not in wire.hex().upper()
