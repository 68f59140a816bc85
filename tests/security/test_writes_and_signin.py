"""Penetration-test findings, over real HTTP on loopback (docs/console.md, "Write
discipline" and "Sign-in throttling"):

- staff activity (CSV exports, failed and successful sign-ins, page loads that
  touch their session) never fails a resident's payment: every kiosk message
  sent meanwhile is answered 200 with a valid MAC, and the money adds up;
- a flood of sign-in POSTs (from one address, or from 80) never queues the
  kiosks' traffic: each signed kiosk message is answered well inside the
  kiosk's 5 s timeout;
- throttling slows an attacker's address without locking staff out from theirs;
- an oversized sign-in form is refused (413), never a 500.

Source addresses: the whole of 127.0.0.0/8 is loopback, so a client bound to
127.0.3.7 is "another address" to the host."""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.support.bank8583 import Terminal
from tests.support.console_env import DEMO_KIOSK, USERS, ConsoleHost
from sqlalchemy import select, update

from host.bank import money_totals
from host.billing import household_bill, unpaid_periods
from host.bank.card_vault import pan_hash
from host.schema.bank import bank_accounts
from host.schema.estate import households
from common.demo_cards import load_test_cards
from tests.support.databases import BACKENDS

# the write discipline and the sign-in throttle hold on both backends (issue 12, issue 13)
pytestmark = pytest.mark.backends(*BACKENDS)

KIOSK_TIMEOUT_S = 5.0
GOOD = next(c for c in load_test_cards().cards if c.pan == "6222021000000000017")


class Browser:
    """A staff browser from a given source address (loopback alias)."""

    def __init__(self, base_url: str, source: str = "127.0.0.1") -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False,
                                 transport=httpx.HTTPTransport(local_address=source))
        self.csrf = self.token = ""

    def close(self) -> None:
        self.http.close()

    def login_token(self) -> str:
        page = self.http.get("/console/login")
        found = re.search(r'name="login_token" value="([^"]+)"', page.text)
        assert found, page.status_code
        return found.group(1)

    def post_sign_in(self, token: str, username: str, password: str) -> httpx.Response:
        return self.http.post("/console/login", data={"login_token": token, "username": username,
                                                       "password": password, "next": "/console/"})

    def attempt(self, username: str, password: str) -> httpx.Response:
        """One sign-in POST; the form token for the next one comes with the answer, as in a browser."""
        if not self.token:
            self.token = self.login_token()
        reply = self.post_sign_in(self.token, username, password)
        found = re.search(r'name="login_token" value="([^"]+)"', reply.text)
        self.token = found.group(1) if found else ""
        return reply

    def sign_in(self, username: str, password: str) -> httpx.Response:
        reply = self.post_sign_in(self.login_token(), username, password)
        if reply.status_code == 303:
            found = re.search(r'name="csrf_token" value="([^"]+)"', self.http.get("/console/").text)
            self.csrf = found.group(1) if found else ""
        return reply


@pytest.fixture
def browsers(console_host: ConsoleHost) -> Iterator[Callable[..., Browser]]:  # noqa: F811
    made: list[Browser] = []

    def make(source: str = "127.0.0.1") -> Browser:
        browser = Browser(console_host.url, source)
        made.append(browser)
        return browser
    yield make
    for browser in made:
        browser.close()


def _houses_to_pay(host: ConsoleHost, count: int) -> list[tuple[str, int, list[str]]]:
    found: list[tuple[str, int, list[str]]] = []
    with host.engine.connect() as conn:
        for house in conn.execute(select(households.c.house_no).order_by(households.c.id.desc())).scalars():
            bill = household_bill(conn, house, host.console.today(), host.settings)
            if bill["total_due_fen"] > 0:
                found.append((house, bill["total_due_fen"], unpaid_periods(bill)))
            if len(found) == count:
                return found
    raise AssertionError("not enough unpaid bills in the demo estate")


class Hammer:
    """Threads that keep the console busy until stopped; counts what they did."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.done: dict[str, int] = {}
        self.errors: list[str] = []
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def run(self, name: str, step: Callable[[], Any]) -> None:
        def loop() -> None:
            while not self.stop.is_set():
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - recorded, asserted on below
                    with self._lock:
                        self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                with self._lock:
                    self.done[name] = self.done.get(name, 0) + 1
        thread = threading.Thread(target=loop, name=f"hammer-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def _sent(send: Callable[[], Any]) -> Any:
    """The reply, or None when the connection failed (a kiosk: outcome unknown)."""
    try:
        return send()
    except (httpx.HTTPError, OSError):     # OSError: the bank link's socket
        return None


def _paid(link: Terminal, house: str, amount: int, periods: list[str]) -> dict[int, Any] | None:
    """A bill payment over the bank link: the reply's fields, or None (outcome unknown)."""
    return _sent(lambda: dict(link.purchase(GOOD.track2, GOOD.pin, GOOD.pan, amount,
                                            bill_ref=f"H={house};P={','.join(periods)}").message.fields))


def test_staff_activity_never_fails_a_payment(console_host: ConsoleHost,  # noqa: F811
                                              browsers: Callable[..., Browser],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    host = console_host
    monkeypatch.setattr("host.console.sessions.TOUCH_EVERY_S", 0.0)    # every page load writes its session
    with host.engine.begin() as conn:          # enough money on the card for every bill below
        conn.execute(update(bank_accounts).where(bank_accounts.c.pan_hash == pan_hash(host.settings.bank_keys(),
                                                                                      GOOD.pan))
                     .values(balance_fen=10 ** 10, daily_limit_fen=10 ** 10))
    houses = _houses_to_pay(host, 30)
    kiosk, link = host.kiosk(DEMO_KIOSK), host.link()     # the demo kiosk: its terminal is KIOSK001
    with host.engine.connect() as conn:
        before = money_totals(conn)
    day = host.console.today().isoformat()

    hammer = Hammer()
    exporter = browsers()
    assert exporter.sign_in("look", USERS["look"][0]).status_code == 303
    hammer.run("export", lambda: [exporter.http.get(f"/console/transactions.csv?from={day}&to={day}"),
                                  exporter.http.get(f"/console/day-totals.csv?day={day}")])
    reader = browsers()
    assert reader.sign_in("boss", USERS["boss"][0]).status_code == 303
    hammer.run("pages", lambda: [reader.http.get(p) for p in ("/console/", "/console/transactions",
                                                              "/console/kiosks/KIOSK-A", "/console/audit")])
    # wrong passwords, each burst from a new address (so throttling does not stop the writes they cause)
    counter = iter(range(10 ** 6))

    def wrong_passwords() -> None:
        n = next(counter)
        guesser = browsers(f"127.0.{10 + n // 250 % 200}.{1 + n % 250}")
        for name in ("duty", "nobody", "boss"):
            reply = guesser.attempt(name, "wrong-password")
            assert reply.status_code in (401, 429), reply.status_code
        guesser.close()
    for _ in range(3):
        hammer.run("wrong_sign_in", wrong_passwords)

    def sign_in_and_out() -> None:
        staff = Browser(host.url)
        try:
            assert staff.sign_in("duty", USERS["duty"][0]).status_code == 303
            staff.http.post("/console/logout", data={"csrf_token": staff.csrf})
        finally:
            staff.close()
    hammer.run("sign_in_out", sign_in_and_out)

    failed: list[str] = []
    latencies: list[float] = []
    try:
        time.sleep(0.3)
        for n, (house, amount, periods) in enumerate(houses):
            txn_id = f"KIOSK-A-20261121-{n:06d}"
            started = time.monotonic()
            reply = _paid(link, house, amount, periods)
            latencies.append(time.monotonic() - started)
            if reply is None or reply.get(39) != "00":
                failed.append(f"pay {house}: {reply and reply.get(39)}")
                continue
            result = "approved"
            if n % 5 == 4:                   # the kiosk did not learn the outcome: reversed, then copied
                started = time.monotonic()
                reversal = _sent(lambda: link.reversal(str(reply[11]), amount).message.fields)
                latencies.append(time.monotonic() - started)
                if reversal is None or reversal.get(39) != "00":
                    failed.append(f"reverse {txn_id}: {reversal and reversal.get(39)}")
                result = "reversed"
            copy = {"txn_id": txn_id, "house_no": house, "amount_fen": amount, "masked_pan": "622202******0017",
                    "result": result, "reference": str(reply[37]).strip(), "auth_code": str(reply[38]).strip(),
                    "at": "2026-11-21T10:30:00"}
            started = time.monotonic()
            other = _sent(lambda: kiosk.backup(copy))
            latencies.append(time.monotonic() - started)
            if other is None or other.status != 200 or not other.mac_ok:
                failed.append(f"backup {txn_id}: {other and other.status} {other and other.body[:80]!r}")
    finally:
        hammer.join()

    with host.engine.connect() as conn:
        after = money_totals(conn)
    print(f"\nkiosk messages: {len(latencies)}, failed: {len(failed)}, max latency {max(latencies):.3f} s; "
          f"console work done meanwhile: {hammer.done}; hammer errors: {len(hammer.errors)}")
    assert failed == [], failed[:5]
    assert max(latencies) < KIOSK_TIMEOUT_S
    assert hammer.done.get("export", 0) >= 3 and hammer.done.get("wrong_sign_in", 0) >= 3
    assert hammer.done.get("pages", 0) >= 3 and hammer.done.get("sign_in_out", 0) >= 1
    # the console itself never answered a 5xx or failed a write either
    assert hammer.errors == [], hammer.errors[:5]
    # money: moved, never made or lost, and the books agree to the fen
    assert after["bank_balances_fen"] + after["journal_net_fen"] == \
        before["bank_balances_fen"] + before["journal_net_fen"]
    assert after["journal_net_fen"] == after["ledger_fen"]
    assert after["ledger_fen"] - after["ledger_late_fee_fen"] == after["bills_paid_by_card_fen"]
    reversed_fen = sum(a for n, (_, a, _) in enumerate(houses) if n % 5 == 4)
    assert after["journal_net_fen"] - before["journal_net_fen"] == sum(a for _, a, _ in houses) - reversed_fen


def _kiosk_latencies(host: ConsoleHost, stop: threading.Event) -> tuple[list[float], list[str]]:
    """Signed kiosk messages (heartbeat, backup copy through the bank channel) and
    bill look-ups, back to back until `stop`: their latencies and any bad reply."""
    kiosk = host.kiosk("KIOSK-B")
    latencies: list[float] = []
    bad: list[str] = []
    n = 0
    while not stop.is_set():
        n += 1
        copy = {"txn_id": f"KIOSK-B-FLOOD-{n:06d}", "house_no": "", "amount_fen": 0, "masked_pan": "",
                "result": "declined", "reference": "", "auth_code": "", "at": "2026-11-21T10:30:00"}
        for what, send in (("heartbeat", lambda: kiosk.heartbeat()), ("backup", lambda: kiosk.backup(copy)),
                           ("bill", lambda: kiosk.post("/api/v1/households/bill", {"house_no": "3-2-1202"}))):
            started = time.monotonic()
            reply = send()
            latencies.append(time.monotonic() - started)
            status = reply.status_code if isinstance(reply, httpx.Response) else reply.status
            if status != 200 or (not isinstance(reply, httpx.Response) and not reply.mac_ok):
                bad.append(f"{what}: {status}")
        time.sleep(0.05)
    return latencies, bad


def _flood(host: ConsoleHost, sources: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """80 concurrent sign-in POSTs (wrong passwords, at the production scrypt cost)
    while a kiosk keeps talking; returns what each side saw."""
    from host.console.accounts import Accounts
    from host.console.passwords import DEFAULT_COST
    console = host.console
    monkeypatch.setattr(console, "accounts", Accounts(host.engine, host.settings.console, cost=DEFAULT_COST,
                                                      clock=console.clock.wall))
    clients = [Browser(host.url, source) for source in sources]
    tokens = [c.login_token() for c in clients]
    ready = threading.Barrier(len(clients) + 1)
    statuses: list[int] = []
    lock = threading.Lock()

    def attack(client: Browser, token: str, n: int) -> None:
        ready.wait()
        try:
            reply = client.post_sign_in(token, "admin" if n % 2 else "boss", f"guess-{n:04d}")
            status = reply.status_code
            if status == 429:
                assert int(reply.headers["retry-after"]) >= 1
        except httpx.HTTPError as exc:
            status = -1
            print("attack:", exc)
        with lock:
            statuses.append(status)

    stop = threading.Event()
    measured: dict[str, Any] = {}

    def kiosk_side() -> None:
        measured["latencies"], measured["bad"] = _kiosk_latencies(host, stop)
    watcher = threading.Thread(target=kiosk_side)
    watcher.start()
    attackers = [threading.Thread(target=attack, args=(c, t, n)) for n, (c, t) in enumerate(zip(clients, tokens))]
    for thread in attackers:
        thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    ready.wait()
    for thread in attackers:
        thread.join(120)
    measured["flood_s"] = time.monotonic() - started
    time.sleep(0.3)
    stop.set()
    watcher.join(30)
    for client in clients:
        client.close()
    measured["statuses"] = sorted(statuses)
    return measured


def _check_flood(measured: dict[str, Any], label: str) -> None:
    latencies, statuses = measured["latencies"], measured["statuses"]
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    print(f"\n{label}: {len(statuses)} sign-in POSTs in {measured['flood_s']:.1f} s, answers {counts}; "
          f"kiosk: {len(latencies)} messages, max latency {max(latencies):.3f} s")
    assert len(statuses) == 80 and all(s in (401, 429, 503) for s in statuses), counts
    assert measured["bad"] == []
    assert len(latencies) >= 9
    assert max(latencies) < KIOSK_TIMEOUT_S / 2.5        # well inside the kiosk's timeout: under 2 s


def test_a_sign_in_flood_from_one_address_never_queues_the_kiosks(console_host: ConsoleHost,  # noqa: F811
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    measured = _flood(console_host, ["127.0.0.1"] * 80, monkeypatch)
    _check_flood(measured, "one address")
    assert measured["statuses"].count(429) >= 70           # refused at once: no hash, no database write


def test_a_sign_in_flood_from_eighty_addresses_never_queues_the_kiosks(console_host: ConsoleHost,  # noqa: F811
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    measured = _flood(console_host, [f"127.0.4.{n}" for n in range(1, 81)], monkeypatch)
    _check_flood(measured, "80 addresses")


def test_an_attackers_failures_do_not_lock_staff_out_from_their_own_address(
        console_host: ConsoleHost, browsers: Callable[..., Browser]) -> None:  # noqa: F811
    attacker = browsers("127.0.5.66")
    replies = [attacker.attempt("boss", f"guess-{n}") for n in range(5)]
    assert [r.status_code for r in replies] == [401] * 5 and "已锁定" in replies[-1].text
    # the attacker's address is locked out of "boss", even with the right password...
    assert "已锁定" in attacker.attempt("boss", USERS["boss"][0]).text
    # ...the real admin, from their own address, is not
    office = browsers("127.0.5.1")
    assert office.sign_in("boss", USERS["boss"][0]).status_code == 303
    # and the admin sees the attack on the Users page
    assert "已锁定至" in office.http.get("/console/users").text
    failures = [e for e in console_host.audit("sign_in_failed") if e.ip == "127.0.5.66"]
    assert len(failures) == 6


def test_an_address_that_keeps_failing_is_slowed_down(console_host: ConsoleHost,  # noqa: F811
                                                      browsers: Callable[..., Browser]) -> None:
    settings = console_host.settings.console
    attacker = browsers("127.0.6.6")
    names = [f"name{n}" for n in range(2 * settings.lockout_failures)]     # a different name each time
    assert [attacker.attempt(name, "guess-guess").status_code for name in names] == [401] * len(names)
    slowed = attacker.attempt("boss", USERS["boss"][0])                     # even the right password waits
    assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) >= 1
    assert "console_session" not in slowed.headers.get("set-cookie", "")
    # another address is not slowed
    assert browsers("127.0.6.7").sign_in("boss", USERS["boss"][0]).status_code == 303
    # after the delay the address may try again (and the right password gets in)
    time.sleep(int(slowed.headers["retry-after"]) + 0.1)
    assert attacker.attempt("boss", USERS["boss"][0]).status_code == 303


def test_an_oversized_sign_in_form_is_refused_not_a_500(console_host: ConsoleHost,  # noqa: F811
                                                        browsers: Callable[..., Browser]) -> None:
    client = browsers()
    token = client.login_token()
    big = client.http.post("/console/login", data={"login_token": token, "username": "boss",
                                                   "password": "x" * (20 * 1024)})
    assert big.status_code == 413
    chunked = client.http.post("/console/login", content=iter([b"password=" + b"y" * 8192] * 4),
                               headers={"content-type": "application/x-www-form-urlencoded"})   # no length given
    assert chunked.status_code == 413
    assert client.sign_in("boss", USERS["boss"][0]).status_code == 303
