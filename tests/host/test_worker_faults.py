"""Faults under `kiosk host serve --workers 2` on PostgreSQL (issue 12,
deliverable 6; docs/host.md "Several workers", "Faults"): a worker SIGKILLed
in the middle of a payment, a backup copy and a heartbeat carrying a console
command, at the moments host.faults names (before the COMMIT, after it but
before the reply), and PostgreSQL restarted under load. Nothing lost or
duplicated, money counted to the fen (tests/support/card_centre.check_money).

One host and one private PostgreSQL server for the module (the last test
restarts the server, which must not disturb the session's)."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from host.schema.bank import property_backups
from host.schema.fleet import fleet_commands
from tests.support import workers
from tests.support.bank8583 import Terminal, copy_of, pay_bill
from tests.support.card_centre import check_money
from tests.support.console_env import StaffClient
from tests.support.fleet import TMKS, wait_until
from tests.support.host_env import GOOD
from tests.support.postgres import PgServer, missing_reason
from tests.support.worker_faults import Books, arm, is_armed, pay_or_none, reverse
from tests.support.workers import WorkerKiosk, WorkersHost


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def faults_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def host(pg: PgServer, faults_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkersHost]:
    folder = tmp_path_factory.mktemp("faulty-host")
    toml = folder / "seed.toml"
    toml.write_text(workers.workers_toml(0, 0), encoding="utf-8")
    db_url = pg.url(pg.create_database("faults"))
    workers.seed(db_url, toml)
    started = workers.start(folder, db_url, env={"KIOSK_HOST_FAULTS": str(faults_dir)}, log=folder / "host.log")
    yield started
    code, _, _ = started.stop()
    assert code == 0, (folder / "host.log").read_text(encoding="utf-8")[-3000:]


@pytest.fixture(scope="module")
def books(host: WorkersHost) -> Iterator[Books]:
    made = Books(host.db_url)
    yield made
    made.close()


@pytest.fixture(scope="module")
def kiosk(host: WorkersHost) -> Iterator[WorkerKiosk]:
    """KIOSK-A: terminal KIOSK001's kiosk, so its backup copies match the link's payments."""
    made = WorkerKiosk(host.url, "KIOSK-A", TMKS["KIOSK-A"])
    assert made.sign_on().status == 200
    yield made
    made.close()


@pytest.fixture(scope="module")
def beater(host: WorkersHost) -> Iterator[WorkerKiosk]:
    """KIOSK-B, which heartbeats (signed on once: its counter only rises)."""
    made = WorkerKiosk(host.url, "KIOSK-B", TMKS["KIOSK-B"])
    assert made.sign_on().status == 200
    yield made
    made.close()


@pytest.fixture(scope="module")
def terminal(host: WorkersHost) -> Terminal:
    made = Terminal(host.bank_port)
    assert made.sign_on().message.text(39) == "00"
    return made


@pytest.fixture(scope="module")
def houses(books: Books) -> Iterator[str]:
    """A household not paid yet, for each payment of the module."""
    return iter(books.houses(200)[1:])


def _bill(kiosk: WorkerKiosk, house: str) -> dict[str, Any]:
    reply = kiosk.post("/api/v1/households/bill", {"house_no": house})
    assert reply.status == 200, reply.body
    return reply.json


def _due(kiosk: WorkerKiosk, houses: Iterator[str]) -> tuple[str, dict[str, Any]]:
    """The next household with something due, and its bill."""
    for house in houses:
        bill = _bill(kiosk, house)
        if bill["total_due_fen"] > 0:
            return house, bill
    raise AssertionError("no household left with a bill due")


def _pids(host: WorkersHost) -> set[str]:
    return set(host.workers())


@pytest.mark.parametrize("moment", ["before_commit", "before_reply"])
def test_a_worker_killed_in_the_middle_of_a_payment_the_kiosk_s_reversal_lands_on_the_other(
        moment: str, host: WorkersHost, books: Books, kiosk: WorkerKiosk, terminal: Terminal,
        houses: Iterator[str], faults_dir: Path) -> None:
    house, bill = _due(kiosk, houses)
    fen = bill["total_due_fen"]
    before, workers_before = books.totals(), _pids(host)
    arm(faults_dir, f"bank.0200.{moment}")
    assert pay_or_none(terminal, house, bill, GOOD) is None       # the worker died holding it: no 0210
    assert not is_armed(faults_dir, f"bank.0200.{moment}")          # it fired, once
    stan = f"{terminal.stan:06d}"
    rows = books.query("SELECT kind, state, amount_fen FROM bank_link_journal WHERE stan = :s", s=stan)
    if moment == "before_commit":
        assert rows == []                                          # rolled back with the dead connection
    else:
        assert [tuple(r) for r in rows] == [("purchase", "approved", fen)]      # committed, never answered
    assert reverse(terminal, stan, fen) == "00"                   # on the worker still alive
    (row,) = books.query("SELECT kind, state, amount_fen FROM bank_link_journal WHERE stan = :s", s=stan)
    assert (row.kind, row.state) == ("purchase", "reversed")       # the purchase reversed, or its tombstone
    after = books.totals()
    check_money(before, after)
    assert after["bank_balances_fen"] == before["bank_balances_fen"]      # every fen back on the card
    assert after["journal_net_fen"] == before["journal_net_fen"]
    assert _bill(kiosk, house)["total_due_fen"] == fen                   # and the bill still due
    assert wait_until(lambda: len(_pids(host) - workers_before) == 1, what="the dead worker restarted")


@pytest.mark.parametrize("moment", ["before_commit", "before_reply"])
def test_a_backup_copy_retried_after_its_worker_died_lands_once(
        moment: str, host: WorkersHost, books: Books, kiosk: WorkerKiosk, terminal: Terminal,
        houses: Iterator[str], faults_dir: Path) -> None:
    house, bill = _due(kiosk, houses)
    before = books.totals()
    paid = pay_bill(terminal, house, bill, GOOD)
    assert paid[39] == "00"
    copy = copy_of(paid, f"C-{moment}", house, bill["total_due_fen"])
    arm(faults_dir, f"api.v1.property.transactions.{moment}")
    with pytest.raises(httpx.TransportError):
        kiosk.backup(copy)
    reply = kiosk.backup(copy)                    # the kiosk's retry: its next counter, the same copy
    assert reply.status == 200 and reply.json == {"stored": True}
    with books.engine.connect() as conn:
        stored = conn.execute(select(property_backups).where(property_backups.c.txn_id == copy["txn_id"])).all()
    assert len(stored) == 1
    check_money(before, books.totals())
    assert _bill(kiosk, house)["total_due_fen"] == 0


@pytest.mark.parametrize("moment", ["before_commit", "before_reply"])
def test_a_command_whose_heartbeat_s_worker_died_is_delivered_once_after_the_retry(
        moment: str, host: WorkersHost, books: Books, beater: WorkerKiosk, faults_dir: Path) -> None:
    staff = StaffClient(host.url)
    try:
        assert beater.heartbeat().status == 200
        assert staff.sign_in(workers.CONSOLE_USER, workers.CONSOLE_PASSWORD).status_code == 303
        sent = staff.post("/console/kiosks/KIOSK-B/commands", {"command": "print_test"},
                          headers={"Accept": "application/json"})
        queued_on, command_id = sent.headers["x-host-worker"], sent.json()["commands"][0]["id"]
        arm(faults_dir, f"api.v1.fleet.heartbeat.{moment}")
        with pytest.raises(httpx.TransportError):
            beater.heartbeat()
        assert not is_armed(faults_dir, f"api.v1.fleet.heartbeat.{moment}")
        retried = beater.heartbeat()                              # its next counter, on a live worker
        assert retried.status == 200 and [c["id"] for c in retried.json["commands"]] == [command_id]
        done = beater.heartbeat(acks=[{"id": command_id, "status": "done", "result": "printed"}])
        assert done.json == {"acked": [command_id], "commands": []}
        assert beater.heartbeat().json["commands"] == [] and beater.heartbeat().json["commands"] == []
        with books.engine.connect() as conn:
            row = conn.execute(select(fleet_commands).where(fleet_commands.c.id == command_id)).one()
        assert (row.status, row.result) == ("done", "printed") and row.delivered_at is not None
        assert queued_on                              # queued on a worker; the heartbeat's may have died
    finally:
        staff.close()


def test_postgresql_restarted_under_load_fails_cleanly_and_recovers(
        pg: PgServer, host: WorkersHost, books: Books, terminal: Terminal, kiosk: WorkerKiosk) -> None:
    """`pg_ctl restart -m fast` while a kiosk heartbeats and a terminal pays:
    every HTTP reply is 200 or 503 database_unavailable (never a 500), every
    payment 00, or 96 / no reply and then reversed; within seconds of the
    server's return both work again; money to the fen."""
    beater = WorkerKiosk(host.url, "KIOSK-C", TMKS["KIOSK-C"])
    assert beater.sign_on().status == 200
    before = books.totals()
    replies: list[tuple[float, int, bytes]] = []
    payments: list[tuple[float, str]] = []
    approved: list[str] = []
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            reply = beater.heartbeat()
            replies.append((time.monotonic(), reply.status, reply.body))

    def pay() -> None:
        while not stop.is_set():
            try:           # 1 yuan on the demo bill reference: the card's balance lasts
                code = terminal.purchase(GOOD.track2, GOOD.pin, GOOD.pan, 100).message.text(39)
            except (AssertionError, OSError):       # no reply
                code = "none"
            stan = f"{terminal.stan:06d}"
            payments.append((time.monotonic(), code))
            if code == "00":
                approved.append(stan)
            else:                                     # in doubt or refused: the kiosk reverses
                reverse(terminal, stan, 100)

    threads = [threading.Thread(target=beat), threading.Thread(target=pay)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(replies) >= 3 and len(payments) >= 3, what="load before the restart")
        pg.restart("fast")
        back = time.monotonic()
        wait_until(lambda: any(t > back and s == 200 for t, s, _ in replies[-3:]) and
                   any(t > back and c == "00" for t, c in payments[-3:]), timeout_s=30, what="recovery")
        recovered = time.monotonic() - back
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)
        beater.close()
    # (a failed key read used to throttle the next reload into 401 not_signed_on:
    # host.fleet.keys stamps the reload only once the row is read)
    odd = [b for _, s, b in replies if s not in (200, 503)]
    assert not odd, odd
    for _, status, body in replies:
        assert b"Traceback" not in body
        if status == 503:
            assert json.loads(body) == {"error": "database_unavailable",
                                        "message": "the host's database is not answering; try again"}
    assert {c for _, c in payments} <= {"00", "96", "none"}
    assert recovered < 30
    for stan in approved:                             # the payments booked: undone, to count the fen
        assert reverse(terminal, stan, 100) == "00"
    after = books.totals()
    check_money(before, after)
    assert after["bank_balances_fen"] == before["bank_balances_fen"]
    assert books.query("SELECT count(*) AS n FROM bank_link_journal WHERE state = 'approved'"
                       " AND kind = 'purchase' AND amount_fen = 100")[0].n == 0
    print(f"restart: {len(replies)} heartbeats ({sum(s == 503 for _, s, _ in replies)} 503), {len(payments)} "
          f"payments ({sum(c != '00' for _, c in payments)} 96/no reply), recovered {recovered:.2f} s")
