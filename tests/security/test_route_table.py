"""No route of the host is open by accident (issue 13, deliverable 1).

The host's whole route table (host.app.create_app: the bill look-up, the bank,
the card centre, the fleet's heartbeat, the console with its sign-in and static
files, mounts included) is walked and every route is *called*, as an attacker
would, on a real in-process app: without credentials, with an unsigned or
wrongly signed message, with a staff session of the role below the one the
page needs. A route must be refused (401/403/redirect to the sign-in page, and
no data in the answer) unless it is on the short allow-list OPEN below; a new
route that is not classified here fails the first test."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.crypto import request_mac
from tests.support.signing import KioskSigner
from tests.support.inprocess import DEMO_KIOSK, InProcessHost, start_in_process, stop_in_process, walk

SIGNED_MAK, SIGNED_TMK = "signed kiosk message (MAK)", "signed kiosk message (TMK: sign-on)"
ROLES = ("viewer", "operator", "admin")

# The allow-list: what anyone may call, and why.
OPEN = {
    ("GET", "/api/v1/health"): "says only whether the host answers: {status}",
    ("GET", "/api/v1/openapi.json"): "the API's description; no data, nothing secret (docs/security.md)",
    ("GET", "/console/login"): "the sign-in page",
    ("POST", "/console/login"): "signing in (throttled: console.md)",
    ("GET", "/console/lang/{lang}"): "the language switch (a cookie)",
    ("GET", "/console/static/{path}"): "the console's CSS and script",
}
SIGNED = {("POST", path): SIGNED_MAK for path in (
    "/api/v1/households/bill",   # the bill look-up (tests/security/test_bill_lookup.py)
    "/api/v1/property/transactions", "/api/v1/fleet/heartbeat",
    *(f"/api/v1/cards/{name}" for name in (
        "seen", "blacklist", "status", "load/authorise", "load/confirm", "load/cancel", "unload/authorise",
        "unload/confirm", "unload/cancel", "purchase/authorise", "purchase/confirm", "purchase/cancel")),
    *(f"/api/v1/onecard/{name}" for name in ("keys", "present", "authorise", "confirm", "cancel", "blacklist", "unblock")))}
SIGNED[("POST", "/api/v1/bank/sign-on")] = SIGNED_TMK
SIGNED.update({("POST", f"/api/v1/meters/{name}"): SIGNED_MAK     # prepaid meter vending (docs/meters.md)
               for name in ("check", "authorise", "sign-write", "confirm", "cancel")})
SIGNED.update({("POST", f"/api/v1/transfers/{name}"): SIGNED_MAK     # money between two cards (docs/cards.md)
               for name in ("authorise", "debit", "credit", "confirm", "cancel", "owed")})
# staff pages: the least role that may (host.schema.console.ROLES: viewer < operator < admin)
STAFF = {
    ("GET", "/console/"): "viewer", ("GET", "/console/fleet/table"): "viewer",
    ("GET", "/console/kiosks/{kiosk_id}"): "viewer", ("GET", "/console/kiosks/{kiosk_id}/panel"): "viewer",
    ("POST", "/console/kiosks/{kiosk_id}/commands"): "operator",
    ("GET", "/console/commands"): "viewer", ("POST", "/console/commands"): "operator",
    ("GET", "/console/transactions"): "viewer", ("GET", "/console/transactions.csv"): "viewer",
    ("GET", "/console/day-totals.csv"): "viewer", ("GET", "/console/bank-journal.csv"): "viewer",
    ("GET", "/console/reconciliation"): "viewer",
    ("GET", "/console/onecard-blacklist"): "viewer", ("GET", "/console/onecard-blacklist.csv"): "viewer",
    ("GET", "/console/meters"): "viewer", ("GET", "/console/meter-sales.csv"): "viewer",
    ("POST", "/console/meters/{meter_no}/report-lost"): "operator",
    ("POST", "/console/meters/{meter_no}/reissue"): "operator",
    ("GET", "/console/onecard-flags"): "viewer", ("POST", "/console/onecard-flags/{flag_id}/clear"): "operator",
    ("GET", "/console/audit"): "admin",
    ("POST", "/console/reconciliation/settle"): "operator",
    ("GET", "/console/users"): "admin", ("POST", "/console/users"): "admin",
    ("POST", "/console/users/{username}/unlock"): "admin", ("GET", "/console/events"): "viewer",
    ("POST", "/console/logout"): "viewer",
}
FILL = {"house_no": "3-2-1202", "kiosk_id": DEMO_KIOSK, "username": "admin", "lang": "en", "path": "console.css",
        "meter_no": "310100012345", "flag_id": "1"}


def concrete(path: str) -> str:
    for name, value in FILL.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no value to call {path} with: add one to FILL"
    return path


@pytest.fixture(scope="module")
def host(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessHost]:
    running = start_in_process(demo_db, tmp_path_factory.mktemp("route-table"))
    yield running
    stop_in_process(running)


@pytest.fixture(scope="module")
def kiosk(host: InProcessHost) -> KioskSigner:
    """Known and signed on: on its routes, only the MAC is missing."""
    signer = host.kiosk()
    assert signer.sign_on().status == 200
    return signer


@pytest.fixture(scope="module")
def table(host: InProcessHost) -> dict[tuple[str, str], Any]:
    return {(r.method, r.path): r.endpoint for r in walk(list(host.app.routes))}


def test_every_route_is_classified(table: dict[tuple[str, str], Any]) -> None:
    """A route added to the host must be put in one of the lists here, on purpose."""
    assert set(table) == set(OPEN) | set(SIGNED) | set(STAFF)
    assert not set(OPEN) & set(SIGNED) and not set(OPEN) & set(STAFF) and not set(SIGNED) & set(STAFF)


@pytest.mark.parametrize("path", ["/api/v1/bank/payments", "/api/v1/bank/reversals"])
def test_the_json_bank_payment_routes_are_gone(host: InProcessHost, kiosk: KioskSigner,
                                               table: dict[tuple[str, str], Any], path: str) -> None:
    """Bill payments and their reversals go over ISO 8583 only (issue 16)."""
    assert not any(p == path for _, p in table)
    raw = kiosk.body({"txn_id": "GONE-1", "amount_fen": 1})
    assert host.client.post(path, content=raw, headers={"x-mac": request_mac(kiosk.mak, path, raw).hex()}) \
        .status_code == 404


def _no_data(reply: Any) -> None:
    """A refusal says what was refused, nothing else: an error code and a sentence."""
    assert set(reply.json()) <= {"error", "message"}, reply.text


@pytest.mark.parametrize("route", sorted(SIGNED))
def test_a_kiosk_route_refuses_what_is_not_signed(host: InProcessHost, kiosk: KioskSigner,
                                                  route: tuple[str, str]) -> None:
    method, path = route
    client = host.client
    nothing = client.request(method, path)
    assert nothing.status_code == 400 and nothing.json()["error"] == "bad_request"
    _no_data(nothing)
    raw = kiosk.body({"txn_id": "ROUTE-TABLE-1", "serial": "0" * 20, "since": 0, "type": "heartbeat"})
    unsigned = client.request(method, path, content=raw, headers={"content-type": "application/json"})
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "bad_mac", unsigned.text
    _no_data(unsigned)
    stranger = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")      # not this kiosk's key
    forged = client.request(method, path, content=raw, headers={"x-mac": request_mac(stranger, path, raw).hex()})
    assert forged.status_code == 401 and forged.json()["error"] == "bad_mac"
    _no_data(forged)
    if SIGNED[route] == SIGNED_MAK:     # the kiosk's TMK is not its MAK: a MAK route refuses it
        under_tmk = kiosk.send(path, kiosk.body({"txn_id": "ROUTE-TABLE-2"}), kiosk.tmk)
        assert under_tmk.status == 401 and under_tmk.json["error"] == "bad_mac"


@pytest.mark.parametrize("route", sorted(STAFF))
def test_a_staff_page_sends_a_stranger_to_the_sign_in_page(host: InProcessHost, route: tuple[str, str]) -> None:
    method, path = route
    url = concrete(path)
    page = host.client.request(method, url, data={"csrf_token": "x"} if method == "POST" else None)
    assert page.status_code == 303, page.text
    assert page.headers["location"].startswith("/console/login?"), page.headers["location"]
    assert "set-cookie" not in page.headers and page.content == b""
    as_api = host.client.request(method, url, headers={"accept": "application/json"})
    assert as_api.status_code == 401 and as_api.json() == {"error": "not_signed_in"}


@pytest.mark.parametrize("route", sorted(r for r, role in STAFF.items() if role != "viewer"))
def test_a_staff_page_refuses_the_role_below_its_own(host: InProcessHost, route: tuple[str, str]) -> None:
    method, path = route
    below = ROLES[ROLES.index(STAFF[route]) - 1]
    token, csrf = host.staff_session(below)
    page = host.client.request(method, concrete(path), data={"csrf_token": csrf} if method == "POST" else None,
                               headers={"accept": "application/json", "cookie": f"console_session={token}"})
    assert page.status_code == 403 and page.json() == {"error": "forbidden"}, page.text


def test_the_session_cookie_is_the_one_the_console_reads() -> None:
    """The role test above signs in through this cookie name: it must be the console's."""
    from host.console.sessions import COOKIE
    assert COOKIE == "console_session"


@pytest.mark.parametrize("route", sorted(OPEN))
def test_an_open_route_answers_without_credentials(host: InProcessHost, route: tuple[str, str]) -> None:
    method, path = route
    reply = host.client.request(method, concrete(path), data={} if method == "POST" else None)
    assert reply.status_code < 500


def test_health_says_nothing_beyond_its_status(host: InProcessHost) -> None:
    reply = host.client.get("/api/v1/health")
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}      # no estate, no version, no error text
