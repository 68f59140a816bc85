"""The kiosk's bill look-up (BillService over HostClient over the signed
channel): sign-on, error mapping at the boundary and refusal of replies whose
figures do not add up or that are not under our key. The host here is a
scripted stand-in speaking the signed protocol (tests.support.scripted_host);
the real host is exercised in tests/host and the UI tests."""
import copy
import socket

import httpx
import pytest

from kiosk.domain.bill import HouseholdBill
from kiosk.domain.errors import BadHostReply, HostRejected, HostUnavailable, HouseNotFound, NotSignedOn
from common.errors import BadHouseNumber
from tests.support.kiosks import BillKiosk
from tests.support.scripted_host import Scripted, ScriptedHost

REPLY = {
    "house_no": "3-2-1202", "estate": "翠湖花园", "area_m2": "89.50", "as_of": "2026-11-21",
    "current": {
        "period": "2026-10", "due_on": "2026-12-01", "paid": False,
        "amount_fen": 33436,
        "lines": [
            {"utility": "electricity", "unit": "kWh", "previous_reading": "10234.50",
             "current_reading": "10456.70", "usage": "222.20",
             "tiers": [{"tier": 1, "quantity": "180.00", "unit_price": "0.4883", "amount_fen": 8789},
                       {"tier": 2, "quantity": "42.20", "unit_price": "0.5383", "amount_fen": 2272}],
             "amount_fen": 11061},
            {"utility": "property", "unit": "m2", "previous_reading": None, "current_reading": None,
             "usage": "89.50",
             "tiers": [{"tier": 1, "quantity": "89.50", "unit_price": "2.50", "amount_fen": 22375}],
             "amount_fen": 22375},
        ],
    },
    "arrears": [{"period": "2026-09", "due_on": "2026-10-31", "days_overdue": 21,
                 "amount_fen": 48800, "late_fee_fen": 512}],
    "late_fee_fen": 512,
    "total_due_fen": 33436 + 48800 + 512,
}


TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def kiosk_answered(*replies: Scripted) -> tuple[BillKiosk, ScriptedHost]:
    host = ScriptedHost(TMK, list(replies))
    return BillKiosk("http://host.test", "KIOSK-TEST-01", TMK, transport=httpx.MockTransport(host)), host


async def lookup(*replies: Scripted, house: str = "3-2-1202") -> HouseholdBill:
    kiosk, _ = kiosk_answered(*replies)
    try:
        return await kiosk.bills.lookup(house)
    finally:
        await kiosk.aclose()


async def test_valid_reply_parses_to_the_fen():
    kiosk, host = kiosk_answered(Scripted(200, REPLY))
    bill = await kiosk.bills.lookup("3-2-1202")
    assert bill.total_due.fen == 82748
    assert bill.current_due.fen == 33436 and bill.arrears_total.fen == 48800
    assert [t.amount.fen for t in bill.current.lines[0].tiers] == [8789, 2272]
    # signed on first, then one signed look-up naming the house and nothing else of ours
    assert host.sign_ons == 1 and host.lookups == [{"kiosk_id": "KIOSK-TEST-01", "counter": 2, "house_no": "3-2-1202"}]
    await kiosk.aclose()


@pytest.mark.parametrize("tamper", [
    lambda r: r.__setitem__("total_due_fen", r["total_due_fen"] + 1),
    lambda r: r["current"].__setitem__("amount_fen", 33437),
    lambda r: r["current"]["lines"][0]["tiers"][1].__setitem__("amount_fen", 2273),
    lambda r: r["current"]["lines"][0].__setitem__("amount_fen", 11061.0),
    lambda r: r["arrears"][0].__setitem__("amount_fen", -1),
    lambda r: r.pop("late_fee_fen"),
    lambda r: r["current"]["lines"][0].__setitem__("utility", "heating"),
])
async def test_reply_that_does_not_add_up_is_refused(tamper):
    reply = copy.deepcopy(REPLY)
    tamper(reply)
    with pytest.raises(BadHostReply):
        await lookup(Scripted(200, reply))


@pytest.mark.parametrize("scripted, error", [
    (Scripted(404, {"error": "house_not_found", "message": "no such household"}), HouseNotFound),
    (Scripted(400, {"error": "bad_house_number", "message": "x"}), BadHouseNumber),
    (Scripted(500, b"Internal Server Error", signed=False), HostUnavailable),
    (Scripted(503, {"error": "maintenance"}, signed=False), HostUnavailable),
    (Scripted(200, [REPLY]), BadHostReply),                                  # signed, but not a bill
    # not under our key: a proxy's login page, or a forged bill -- never shown
    (Scripted(200, b"<html>proxy login</html>", signed=False), HostUnavailable),
    (Scripted(200, REPLY, signed=False), HostUnavailable),
    (Scripted(409, {"error": "replay", "message": "counter"}), HostRejected),  # twice: not overtaken by chance
])
async def test_http_failures_map_to_typed_errors(scripted, error):
    with pytest.raises(error):
        await lookup(scripted)


async def test_a_refused_key_signs_on_once_more():
    kiosk, host = kiosk_answered(Scripted(401, {"error": "bad_mac", "message": "x"}), Scripted(200, REPLY))
    assert (await kiosk.bills.lookup("3-2-1202")).total_due.fen == 82748
    assert host.sign_ons == 2 and len(host.lookups) == 2
    await kiosk.aclose()


async def test_a_key_refused_again_is_not_signed_on():
    kiosk, host = kiosk_answered(Scripted(401, {"error": "bad_mac", "message": "x"}))
    with pytest.raises(NotSignedOn):
        await kiosk.bills.lookup("3-2-1202")
    assert host.sign_ons == 2          # once, then no loop
    await kiosk.aclose()


async def test_refused_connection_is_host_unavailable():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kiosk = BillKiosk(f"http://127.0.0.1:{port}", "KIOSK-TEST-01", TMK, timeout_s=2)
    with pytest.raises(HostUnavailable):
        await kiosk.bills.lookup("3-2-1202")
    await kiosk.aclose()


async def test_bad_house_number_never_reaches_the_host():
    calls = []
    kiosk = BillKiosk("http://host.test", "KIOSK-TEST-01", TMK, transport=httpx.MockTransport(
        lambda request: calls.append(request) or httpx.Response(500)))
    with pytest.raises(BadHouseNumber):
        await kiosk.bills.lookup("3-2")
    assert calls == []
    await kiosk.aclose()
