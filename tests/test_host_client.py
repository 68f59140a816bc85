"""The kiosk's host client: error mapping at the boundary and refusal of replies
whose figures do not add up. The host here is a scripted stand-in for the
outside world (httpx.MockTransport); the real host is exercised in tests/host
and the UI tests."""
import copy
import json
import socket

import httpx
import pytest

from kiosk.backend_client.client import HostClient
from kiosk.domain.errors import BadHostReply, HostUnavailable, HouseNotFound
from common.errors import BadHouseNumber
from common.house import HouseNumber
from kiosk.services.bills import BillService

HOUSE = HouseNumber.parse("3-2-1202")

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


def client_answering(status: int, body) -> HostClient:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/households/3-2-1202/bill"
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers={"content-type": "application/json"})
    return HostClient("http://host.test", transport=httpx.MockTransport(handler))


async def test_valid_reply_parses_to_the_fen():
    bill = await client_answering(200, REPLY).household_bill(HOUSE)
    assert bill.total_due.fen == 82748
    assert bill.current_due.fen == 33436 and bill.arrears_total.fen == 48800
    assert [t.amount.fen for t in bill.current.lines[0].tiers] == [8789, 2272]


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
        await client_answering(200, reply).household_bill(HOUSE)


@pytest.mark.parametrize("status, body, error", [
    (404, {"error": "house_not_found", "message": "no such household"}, HouseNotFound),
    (400, {"error": "bad_house_number", "message": "x"}, BadHouseNumber),
    (500, b"Internal Server Error", HostUnavailable),
    (503, {"error": "maintenance"}, HostUnavailable),
    (200, b"<html>proxy login</html>", BadHostReply),
])
async def test_http_failures_map_to_typed_errors(status, body, error):
    with pytest.raises(error):
        await client_answering(status, body).household_bill(HOUSE)


async def test_refused_connection_is_host_unavailable():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = HostClient(f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(HostUnavailable):
        await client.household_bill(HOUSE)
    await client.aclose()


async def test_bad_house_number_never_reaches_the_host():
    calls = []
    service = BillService(HostClient("http://host.test", transport=httpx.MockTransport(
        lambda request: calls.append(request) or httpx.Response(500))))
    with pytest.raises(BadHouseNumber):
        await service.lookup("3-2")
    assert calls == []
