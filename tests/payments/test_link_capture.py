"""What crosses the kiosk↔bank link on loopback during a whole bill payment
(sign-on, purchase, reply), captured between the real kiosk and the real
reference front-end: no PIN digits, no clear PIN block, and no track digits
beyond what the contract's track encryption leaves in clear — the digits
before the encrypted 8 bytes of field 35 (a finding of BANK-8583.md §3,
docs/bank-link.md; docs/security.md)."""
from __future__ import annotations

from pathlib import Path

from common.bank8583.wire import parse
from common.crypto import pin_block_format0
from kiosk.bootstrap import build
from tests.support.payments import GOOD, CapturingLink, Links, RunningHost, frames, kiosk_settings, pay

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
