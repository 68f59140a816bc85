"""The lookup API over real HTTP on loopback: HostServer on port 0 + httpx, a
signing kiosk (tests.support.signing) and the kiosk's own look-up stack
(HostClient over its signed channel, BillService) against it."""
from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.support.clocks import running_from
from host.app import create_app
from host.bill_lookup import BILL_PATH, screen_bill
from host.config import HostSettings
from host.server import HostServer
from tests.support.host_env import (OTHER_KIOSK, OTHER_TMK, SEED_TODAY, TEST_KIOSK, TEST_TMK, BankEnv,
                                    SignedReply)
from tests.support.kiosks import BillKiosk
from kiosk.domain.errors import HostUnavailable, HouseNotFound

from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest,
           seeded_on: Callable[[str], tuple[HostSettings, Engine]]) -> Iterator[HostServer]:
    """One host per backend for the module (its health reads the database)."""
    settings, engine = seeded_on(request.param)
    with HostServer(create_app(settings, engine, clock=running_from(SEED_TODAY))) as running:
        yield running


def test_port_zero_picks_a_free_port(server: HostServer) -> None:
    assert server.port != 0 and server.url == f"http://127.0.0.1:{server.port}"


def test_health(server: HostServer) -> None:
    response = httpx.get(f"{server.url}/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}      # open: nothing beyond the status


def signed_lookup(bank: BankEnv, house_no: object) -> SignedReply:
    """A signed-on kiosk asks for a bill as the kiosk does (docs/host-api.md)."""
    if bank.kiosk.mak is None:
        assert bank.kiosk.sign_on().status == 200
    return bank.kiosk.post(BILL_PATH, {"house_no": house_no})


def test_bill_lookup_matches_the_billing_code(bank: BankEnv) -> None:
    reply = signed_lookup(bank, "3-2-1202")
    assert reply.status == 200 and reply.mac_ok
    body = reply.json
    assert body == screen_bill(bank.bill("3-2-1202"))
    assert body["house_no"] == "3-2-1202" and body["as_of"] == "2026-11-21"
    assert body["current"]["paid"] is False and len(body["arrears"]) >= 1
    assert isinstance(body["total_due_fen"], int)
    assert body["total_due_fen"] == bank.bill("3-2-1202")["total_due_fen"]   # the same figures as before


@pytest.mark.parametrize("house_no,status,code", [
    ("99-9-909", 404, "house_not_found"),
    ("3-2-9999", 404, "house_not_found"),
    ("3-2", 400, "bad_house_number"),
    ("abc", 400, "bad_house_number"),
    ("0-1-101", 400, "bad_house_number"),
    ("三-2-1202", 400, "bad_house_number"),
    ("٣-2-1202", 400, "bad_house_number"),     # Arabic-Indic digit: ASCII digits only
    ("", 400, "bad_house_number"),
    ("3-2-1202" * 10, 400, "bad_house_number"),
    (3021202, 400, "bad_house_number"),
    (None, 400, "bad_house_number"),
])
def test_errors_are_signed_json_with_a_code(bank: BankEnv, house_no: object, status: int, code: str) -> None:
    reply = signed_lookup(bank, house_no)
    assert reply.status == status and reply.mac_ok
    body = reply.json
    assert body["error"] == code and isinstance(body["message"], str) and body["message"]
    assert set(body) == {"error", "message"}


def test_unknown_route_is_404(server: HostServer) -> None:
    assert httpx.get(f"{server.url}/api/v1/nothing").status_code == 404


async def test_kiosk_client_reads_the_reply(bank: BankEnv) -> None:
    kiosk = BillKiosk(bank.url, TEST_KIOSK, TEST_TMK)
    try:
        bill = await kiosk.bills.lookup("3-2-1202")   # signs on first; runs the kiosk's checks
        assert bill.estate == "翠湖花园" and bill.arrears and not bill.nothing_due
        assert bill.total_due == bill.current_due + bill.arrears_total + bill.late_fee
        assert bill.total_due.fen == bank.bill("3-2-1202")["total_due_fen"]
        paid_up = await kiosk.bills.lookup("1-1-101")
        assert paid_up.nothing_due
        with pytest.raises(HouseNotFound):
            await kiosk.bills.lookup("99-9-909")
        assert (await kiosk.host.health())["status"] == "ok"
    finally:
        await kiosk.aclose()


async def test_a_renewed_key_is_met_by_one_sign_on(bank: BankEnv) -> None:
    """Another sign-on of this kiosk (a restart, `kiosk bill`) voids the key the
    kiosk holds: its next look-up is refused (401), it signs on once and asks again."""
    kiosk = BillKiosk(bank.url, TEST_KIOSK, TEST_TMK)
    try:
        first = await kiosk.bills.lookup("2-1-601")
        version = kiosk.bank.keys.key_version
        bank.kiosk.counter = next(kiosk.counter)           # one counter, as in the kiosk's journal
        assert bank.kiosk.sign_on().status == 200            # the host now holds a new MAK
        kiosk.counter = itertools.count(bank.kiosk.counter + 1)
        again = await kiosk.bills.lookup("2-1-601")
        assert again == first and kiosk.bank.keys.key_version > version
    finally:
        await kiosk.aclose()


async def test_concurrent_lookups(bank: BankEnv) -> None:
    """Two kiosks, each one look-up after another (one resident at a time), at once."""
    houses = ["3-2-1202", "1-1-101", "2-1-601", "2-2-902"] * 10
    kiosks = [BillKiosk(bank.url, TEST_KIOSK, TEST_TMK), BillKiosk(bank.url, OTHER_KIOSK, OTHER_TMK)]

    async def look_up_all(kiosk: BillKiosk) -> list[str]:
        return [str((await kiosk.bills.lookup(h)).house) for h in houses]
    try:
        replies = await asyncio.gather(*(look_up_all(k) for k in kiosks))
    finally:
        for kiosk in kiosks:
            await kiosk.aclose()
    assert replies == [houses, houses]


async def test_stop_and_restart_on_the_same_port(bank: BankEnv) -> None:
    # a second host on the bank test's private database (look-ups store the kiosk's counter)
    host = HostServer(create_app(bank.settings, bank.engine, clock=running_from(SEED_TODAY)))
    host.start()
    url, port = host.url, host.port
    kiosk = BillKiosk(url, TEST_KIOSK, TEST_TMK, timeout_s=2)
    try:
        assert (await kiosk.bills.lookup("2-1-601")).current is not None
        host.stop()
        with pytest.raises(HostUnavailable):      # the kiosk sees "host unavailable", not a crash
            await kiosk.bills.lookup("2-1-601")
        host.start()
        assert host.port == port and host.url == url
        assert (await kiosk.bills.lookup("2-1-601")).current is not None
    finally:
        await kiosk.aclose()
        host.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/v1/health")
