"""Anyone could read every household's bill: 720 unauthenticated look-ups
(`GET /api/v1/households/{house_no}/bill`) in 0.6 s found 228 households with
floor areas, readings, usage, arrears and totals. The look-up is now a signed
kiosk message (`POST /api/v1/households/bill`, host/bill_lookup.py) answering
only what the kiosk shows; tried here as an attacker would, against the real
host over loopback HTTP."""
from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.crypto import request_mac
from host.app import create_app
from host.billing import household_bill
from host.config import load_host_settings
from host.db import make_engine
from host.server import HostServer
from tests.support.clocks import TODAY, running_from
from tests.support.databases import BACKENDS, Databases
from tests.support.signing import KioskSigner, SignedReply

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL

BILL = "/api/v1/households/bill"
KIOSK, TMK = "KIOSK-DEMO-01", bytes.fromhex("7DF0AC87953F75AECD424B5A3BBFF50B")   # config/host.demo.toml
OTHER, OTHER_TMK = "KIOSK-DEMO-02", secrets.token_bytes(16)                        # a second kiosk of the fleet
ARREARS, PAID_UP = "3-2-1202", "1-1-101"      # host.seed.DEMO_HOUSES

# what the kiosk shows (kiosk/screens/bill_view.py, kiosk/services/receipts.py,
# kiosk/billprint.py) and so all a reply may carry: docs/host-api.md "Bill look-up"
TOP = {"house_no", "estate", "area_m2", "as_of", "current", "arrears", "late_fee_fen", "total_due_fen"}
MONTH = {"period", "due_on", "paid", "amount_fen", "lines"}
LINE = {"utility", "unit", "previous_reading", "current_reading", "usage", "tiers", "amount_fen"}
TIER = {"tier", "quantity", "unit_price", "amount_fen"}
ARREAR = {"period", "due_on", "days_overdue", "amount_fen", "late_fee_fen"}


@dataclasses.dataclass
class Host:
    server: Any
    settings: Any
    engine: Any

    @property
    def url(self) -> str:
        return str(self.server.url)

    def bill(self, house: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return household_bill(conn, house, TODAY, self.settings)


@pytest.fixture
def host(tmp_path: Path, demo_estate: Callable[[str, Path], str], databases: Databases,
         backend: str) -> Iterator[Host]:
    """The demo host on a copy of the demo estate (the test's backend), with a second kiosk in its fleet."""
    demo = load_host_settings()
    settings = dataclasses.replace(demo, database_url=demo_estate(backend, tmp_path),
                                   kiosks=(*demo.kiosks, (OTHER, OTHER_TMK)))
    engine = make_engine(settings.database_url)
    with HostServer(create_app(settings, engine, clock=running_from(TODAY))) as server:
        yield Host(server, settings, engine)
    engine.dispose()
    databases.release(settings.database_url)


@pytest.fixture
def kiosk(host: Host) -> Iterator[KioskSigner]:
    signer = KioskSigner(host.url, KIOSK, TMK)
    assert signer.sign_on().status == 200
    yield signer
    signer.close()


def no_bill_in(reply: SignedReply | httpx.Response, bill: dict[str, Any]) -> bool:
    """A refusal: an error code and a sentence, and nothing of the household's bill."""
    body = reply.body if isinstance(reply, SignedReply) else reply.content
    text = body.decode("utf-8", "replace")
    leaked = [str(bill["total_due_fen"]), bill["area_m2"], "total_due", "arrears", "reading", "area"]
    if any(word in text for word in leaked):
        return False
    try:
        return set(httpx.Response(200, content=body).json()) <= {"error", "message"}
    except ValueError:
        return True           # a plain "Not Found" / "Method Not Allowed": no bill in it (checked above)


def all_houses() -> list[str]:
    """The finding's sweep: 3 buildings x 2 units x 12 floors x 10 rooms = 720 guesses."""
    return [f"{b}-{u}-{floor * 100 + room}" for b in (1, 2, 3) for u in (1, 2)
            for floor in range(1, 13) for room in range(1, 11)]


async def test_unauthenticated_enumeration_finds_no_household(host: Host) -> None:
    """The finding's sweep, eight requests at a time: every guess posing as a kiosk
    of the fleet (no MAC), and a tenth of them (the known households among them)
    on the old GET and as a bare unsigned POST too."""
    houses = all_houses()
    assert ARREARS in houses and PAID_UP in houses
    bill = host.bill(ARREARS)
    sampled = set(houses[::10]) | {ARREARS, PAID_UP}
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=host.url, timeout=30) as web:
        async def guess(house: str) -> list[httpx.Response]:
            async with gate:
                tries = [web.post(BILL, json={"kiosk_id": KIOSK, "counter": 10 ** 9, "house_no": house})]
                if house in sampled:
                    tries += [web.get(f"/api/v1/households/{house}/bill"),        # the finding, as it was
                              web.post(BILL, json={"house_no": house})]           # the new path, unsigned
                return [await attempt for attempt in tries]
        replies = await asyncio.gather(*(guess(house) for house in houses))
    found = sorted({house for house, tried in zip(houses, replies) for r in tried if r.status_code == 200})
    assert found == []
    for tried in replies:
        assert all(r.status_code in (400, 401, 404, 405) and no_bill_in(r, bill) for r in tried)


def test_a_signed_reply_carries_only_what_the_screen_shows(host: Host, kiosk: KioskSigner) -> None:
    for house in (ARREARS, PAID_UP):
        reply = kiosk.post(BILL, {"house_no": house})
        assert reply.status == 200 and reply.mac_ok
        body, full = reply.json, host.bill(house)
        assert set(body) == TOP
        assert set(body["current"]) == MONTH          # no issue date, nothing of the host's own
        for line in body["current"]["lines"]:
            assert set(line) == LINE and all(set(tier) == TIER for tier in line["tiers"])
        assert all(set(arrear) == ARREAR for arrear in body["arrears"])
        # the same figures the host computes
        assert body["total_due_fen"] == full["total_due_fen"] and body["late_fee_fen"] == full["late_fee_fen"]
        assert body["current"]["amount_fen"] == full["current"]["amount_fen"]
        assert "issued_on" in full["current"] and "issued_on" not in body["current"]


def test_a_replayed_look_up_is_refused_without_the_bill(host: Host, kiosk: KioskSigner) -> None:
    raw = kiosk.body({"house_no": ARREARS})
    first = kiosk.send(BILL, raw, kiosk.mak)
    assert first.status == 200
    again = kiosk.send(BILL, raw, kiosk.mak)                       # the same bytes, the same MAC
    assert again.status == 409 and again.json["error"] == "replay" and again.mac_ok
    assert no_bill_in(again, host.bill(ARREARS))
    older = kiosk.send(BILL, kiosk.body({"house_no": PAID_UP}, counter=kiosk.counter - 1), kiosk.mak)
    assert older.status == 409 and no_bill_in(older, host.bill(PAID_UP))


@pytest.mark.parametrize("attack", ["no MAC", "bad MAC", "house changed after signing", "signed for another path",
                                    "under the TMK", "another kiosk's key", "not signed on", "not in the fleet"])
def test_a_forged_look_up_is_refused_without_the_bill(host: Host, kiosk: KioskSigner, attack: str) -> None:
    bill = host.bill(ARREARS)
    raw = kiosk.body({"house_no": ARREARS})
    assert kiosk.mak is not None
    if attack == "no MAC":
        reply = kiosk.send(BILL, raw, None)
    elif attack == "bad MAC":
        reply = kiosk.send(BILL, raw, None, mac="00" * 8)
    elif attack == "house changed after signing":
        signed_for = kiosk.body({"house_no": "2-1-601"}, counter=kiosk.counter + 1)
        mac = request_mac(kiosk.mak, BILL, signed_for).hex()
        reply = kiosk.send(BILL, signed_for.replace(b"2-1-601", ARREARS.encode()), None, mac=mac)
    elif attack == "signed for another path":
        reply = kiosk.send(BILL, raw, None, mac=request_mac(kiosk.mak, "/api/v1/property/transactions", raw).hex())
    elif attack == "under the TMK":
        reply = kiosk.send(BILL, raw, TMK)
    elif attack == "another kiosk's key":
        other = KioskSigner(host.url, OTHER, OTHER_TMK)
        assert other.sign_on().status == 200
        assert other.mak is not None
        reply = other.send(BILL, other.body({"house_no": ARREARS}, kiosk_id=KIOSK, counter=kiosk.counter + 5),
                           other.mak)
        other.close()
    elif attack == "not signed on":
        fresh = KioskSigner(host.url, OTHER, OTHER_TMK)
        reply = fresh.send(BILL, fresh.body({"house_no": ARREARS}), OTHER_TMK)
        fresh.close()
    else:
        reply = kiosk.send(BILL, kiosk.body({"house_no": ARREARS}, kiosk_id="KIOSK-STRANGER"), kiosk.mak)
    assert reply.status == 401, reply.body
    assert reply.json["error"] in ("bad_mac", "not_signed_on", "unknown_kiosk")
    assert no_bill_in(reply, bill)
    # a refused message moved no counter: the kiosk's next genuine look-up is answered
    assert kiosk.post(BILL, {"house_no": ARREARS}).json["total_due_fen"] == bill["total_due_fen"]


def test_a_kiosk_without_keys_does_not_start(tmp_path: Path) -> None:
    """No terminal master key, no sign-on, no look-up: refused when the kiosk is
    built (settings made in code) or its file is read, saying which key."""
    from common.settings import ConfigError
    from kiosk.bootstrap import build
    from kiosk.config import load_kiosk_settings

    keyless = dataclasses.replace(load_kiosk_settings(), tmk=b"", journal_path=str(tmp_path / "journal.sqlite3"))
    with pytest.raises(ConfigError, match="security.tmk: is required: every message to the host"):
        build(keyless, with_payments=False)
    assert not (tmp_path / "journal.sqlite3").exists()      # refused before anything was made
    file = tmp_path / "kiosk.toml"
    file.write_text("[kiosk]\nid = 'K'\nestate_name = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="security.tmk: is required"):
        load_kiosk_settings(file)
