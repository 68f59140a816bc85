"""The lookup API over real HTTP on loopback: HostServer on port 0 + httpx, and
the kiosk's own HostClient against it."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.support.clocks import running_from
from host.app import create_app
from host.billing import household_bill
from host.config import HostSettings
from host.server import HostServer
from tests.support.host_env import SEED_TODAY
from kiosk.backend_client.client import HostClient
from kiosk.domain.errors import HostUnavailable, HouseNotFound
from common.house import HouseNumber


@pytest.fixture(scope="module")
def server(seeded: tuple[HostSettings, Engine]) -> Iterator[HostServer]:
    settings, engine = seeded
    with HostServer(create_app(settings, engine, clock=running_from(SEED_TODAY))) as running:
        yield running


def test_port_zero_picks_a_free_port(server: HostServer) -> None:
    assert server.port != 0 and server.url == f"http://127.0.0.1:{server.port}"


def test_health(server: HostServer) -> None:
    response = httpx.get(f"{server.url}/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}      # open: nothing beyond the status


def test_bill_lookup_matches_the_billing_code(server: HostServer, seeded: tuple[HostSettings, Engine]) -> None:
    settings, engine = seeded
    response = httpx.get(f"{server.url}/api/v1/households/3-2-1202/bill")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    with engine.connect() as conn:
        assert body == household_bill(conn, "3-2-1202", SEED_TODAY, settings)
    assert body["house_no"] == "3-2-1202" and body["as_of"] == "2026-11-21"
    assert body["current"]["paid"] is False and len(body["arrears"]) >= 1
    assert isinstance(body["total_due_fen"], int)


@pytest.mark.parametrize("path,status,code", [
    ("/api/v1/households/99-9-909/bill", 404, "house_not_found"),
    ("/api/v1/households/3-2-9999/bill", 404, "house_not_found"),
    ("/api/v1/households/3-2/bill", 400, "bad_house_number"),
    ("/api/v1/households/abc/bill", 400, "bad_house_number"),
    ("/api/v1/households/0-1-101/bill", 400, "bad_house_number"),
    ("/api/v1/households/%E4%B8%89-2-1202/bill", 400, "bad_house_number"),   # 三-2-1202
])
def test_errors_are_json_with_a_code(server: HostServer, path: str, status: int, code: str) -> None:
    response = httpx.get(server.url + path)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == code and isinstance(body["message"], str) and body["message"]


def test_unknown_route_is_404(server: HostServer) -> None:
    assert httpx.get(f"{server.url}/api/v1/nothing").status_code == 404


async def test_kiosk_client_reads_the_reply(server: HostServer) -> None:
    client = HostClient(server.url, timeout_s=5)
    try:
        bill = await client.household_bill(HouseNumber.parse("3-2-1202"))   # runs the kiosk's checks
        assert bill.estate == "翠湖花园" and bill.arrears and not bill.nothing_due
        assert bill.total_due == bill.current_due + bill.arrears_total + bill.late_fee
        paid_up = await client.household_bill(HouseNumber.parse("1-1-101"))
        assert paid_up.nothing_due
        with pytest.raises(HouseNotFound):
            await client.household_bill(HouseNumber.parse("99-9-909"))
        assert (await client.health())["status"] == "ok"
    finally:
        await client.aclose()


async def test_concurrent_lookups(server: HostServer) -> None:
    houses = ["3-2-1202", "1-1-101", "2-1-601", "2-2-902"] * 25
    async with httpx.AsyncClient(base_url=server.url) as client:
        replies = await asyncio.gather(*(client.get(f"/api/v1/households/{h}/bill") for h in houses))
    assert [r.status_code for r in replies] == [200] * len(houses)
    assert [r.json()["house_no"] for r in replies] == houses


async def test_stop_and_restart_on_the_same_port(seeded: tuple[HostSettings, Engine]) -> None:
    settings, engine = seeded
    host = HostServer(create_app(settings, engine, clock=running_from(SEED_TODAY)))
    host.start()
    url, port = host.url, host.port
    client = HostClient(url, timeout_s=2)
    try:
        assert (await client.household_bill(HouseNumber.parse("2-1-601"))).current is not None
        host.stop()
        with pytest.raises(HostUnavailable):      # the kiosk sees "host unavailable", not a crash
            await client.household_bill(HouseNumber.parse("2-1-601"))
        host.start()
        assert host.port == port and host.url == url
        assert (await client.household_bill(HouseNumber.parse("2-1-601"))).current is not None
    finally:
        await client.aclose()
        host.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/v1/health")
