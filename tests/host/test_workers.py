"""`kiosk host serve --workers 2` on PostgreSQL (issue 12, deliverable 2): the
workers share one port and one bank port, and what one process kept in
memory (counters, fleet state, commands, live events, keys) holds across them.
One host for the module (tests/support/workers.py); each test finds replies
from both workers by opening new connections until the other one answers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from host.db import make_engine
from host.schema.bank import bank_link_journal
from host.schema.fleet import fleet_commands, fleet_kiosks
from tests.support.bank8583 import Terminal, pay_bill
from tests.support.host_env import GOOD

from common.settings import PROJECT_ROOT
from tests.support.databases import POSTGRESQL, Databases
from tests.support import workers
from tests.support.console_env import StaffClient
from tests.support.fleet import TMKS, wait_until
from tests.support.workers import WorkerKiosk, WorkersHost


@pytest.fixture(scope="module")
def host(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkersHost]:
    folder = tmp_path_factory.mktemp("workers")
    toml = folder / "seed.toml"
    toml.write_text(workers.workers_toml(0, 0), encoding="utf-8")
    db_url = databases.fresh(POSTGRESQL, "workers", lambda url: workers.seed(url, toml), folder)
    started = workers.start(folder, db_url)
    yield started
    code, _, err = started.stop()
    databases.release(db_url)
    assert code == 0, err


def test_two_workers_answer_on_one_port(host: WorkersHost) -> None:
    seen = host.workers()
    assert len(seen) == 2 and {s.split("/")[0] for s in seen} == {"0", "1"}


@pytest.fixture(scope="module")
def kiosks(host: WorkersHost) -> Iterator[dict[str, WorkerKiosk]]:
    """Each kiosk once for the module, signed on (its counter only rises)."""
    made = {kiosk_id: WorkerKiosk(host.url, kiosk_id, tmk) for kiosk_id, tmk in TMKS.items()}
    for kiosk in made.values():
        kiosk.sign_on()
    yield made
    for kiosk in made.values():
        kiosk.close()


@pytest.fixture
def kiosk_a(kiosks: dict[str, WorkerKiosk]) -> WorkerKiosk:
    return kiosks["KIOSK-A"]


def _row(host: WorkersHost, kiosk_id: str) -> Any:
    engine = make_engine(host.db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(fleet_kiosks).where(fleet_kiosks.c.kiosk_id == kiosk_id)).one()
    finally:
        engine.dispose()


def test_heartbeats_on_either_worker_are_one_kiosk_s_state(kiosk_a: WorkerKiosk) -> None:
    first = kiosk_a.heartbeat_on(lambda w: True)
    one = kiosk_a.last_worker
    kiosk_a.heartbeat_on(lambda w: w != one, status=None)
    assert first.mac_ok
    kiosk_a.heartbeat_on(lambda w: w == one)       # and back: its floor is the database's, not its memory


def test_a_counter_accepted_by_one_worker_is_a_replay_on_the_other(host: WorkersHost, kiosk_a: WorkerKiosk) -> None:
    kiosk_a.heartbeat_on(lambda w: True)
    took = kiosk_a.last_worker
    body = kiosk_a.heartbeat_body()
    assert kiosk_a.send("/api/v1/fleet/heartbeat", body, kiosk_a.mak).status == 200
    first = kiosk_a.last_worker
    seen = {first}
    for _ in range(200):
        again = kiosk_a.send("/api/v1/fleet/heartbeat", body, kiosk_a.mak)
        assert again.status == 409 and again.json["error"] == "replay", again.body
        seen.add(kiosk_a.last_worker)
        if len(seen) == 2:
            break
    assert len(seen) == 2, f"every replay went to {took}"
    assert _row(host, "KIOSK-A").hb_counter == json.loads(body)["counter"]


def test_the_console_on_one_worker_shows_a_heartbeat_taken_by_the_other(host: WorkersHost,
                                                                         kiosk_a: WorkerKiosk) -> None:
    staff = StaffClient(host.url)
    try:
        assert staff.sign_in(workers.CONSOLE_USER, workers.CONSOLE_PASSWORD).status_code == 303
        page = staff.get("/console/kiosks/KIOSK-A")
        shown_by = page.headers["x-host-worker"]
        kiosk_a.heartbeat_on(lambda w: w != shown_by, app_version="9.8.7")
        page = staff.get("/console/kiosks/KIOSK-A")
        assert page.headers["x-host-worker"] == shown_by and "9.8.7" in page.text
    finally:
        staff.close()


def test_a_command_queued_on_one_worker_is_delivered_once_by_the_other(host: WorkersHost,
                                                                        kiosks: dict[str, WorkerKiosk]) -> None:
    kiosk = kiosks["KIOSK-B"]
    staff = StaffClient(host.url)
    try:
        assert staff.sign_in(workers.CONSOLE_USER, workers.CONSOLE_PASSWORD).status_code == 303
        for _ in range(30):     # until the heartbeat after the queueing reaches the other worker
            sent = staff.post("/console/kiosks/KIOSK-B/commands", {"command": "print_test"},
                              headers={"Accept": "application/json"})
            queued_on, command_id = sent.headers["x-host-worker"], sent.json()["commands"][0]["id"]
            delivered = kiosk.heartbeat()
            assert [c["id"] for c in delivered.json["commands"]] == [command_id]
            delivered_on = kiosk.last_worker
            done = kiosk.heartbeat(acks=[{"id": command_id, "status": "done", "result": "printed"}])
            assert done.json == {"acked": [command_id], "commands": []}
            assert kiosk.heartbeat().json["commands"] == []       # and never again, on either worker
            assert kiosk.heartbeat().json["commands"] == []
            if delivered_on != queued_on:
                break
        else:
            raise AssertionError("every heartbeat went to the worker that queued the command")
        engine = make_engine(host.db_url)
        with engine.connect() as conn:
            row = conn.execute(select(fleet_commands).where(fleet_commands.c.id == command_id)).one()
        engine.dispose()
        assert (row.status, row.result) == ("done", "printed") and row.delivered_at is not None
    finally:
        staff.close()


def test_an_alert_raised_on_one_worker_reaches_a_live_page_served_by_the_other(
        host: WorkersHost, kiosks: dict[str, WorkerKiosk]) -> None:
    kiosk = kiosks["KIOSK-C"]
    staff = StaffClient(host.url)
    try:
        kiosk.heartbeat()
        assert staff.sign_in(workers.CONSOLE_USER, workers.CONSOLE_PASSWORD).status_code == 303
        with staff.http.stream("GET", "/console/events?view=fleet") as stream:
            page_on = stream.headers["x-host-worker"]
            lines = stream.iter_lines()
            for line in lines:                     # the page's first render is there
                if line.startswith("event: table"):
                    break
            faulty = {"printer": {"state": "fault", "reason": "jam"}}
            kiosk.heartbeat_on(lambda w: w != page_on, devices=faulty)
            for line in lines:
                if line.startswith("event: alert"):
                    assert "KIOSK-C" in next(lines)
                    break
    finally:
        staff.close()


def test_a_key_rotated_on_one_worker_is_used_by_the_other(kiosks: dict[str, WorkerKiosk]) -> None:
    kiosk = kiosks["KIOSK-C"]
    kiosk.heartbeat_on(lambda w: True)
    cached_on, version = kiosk.last_worker, kiosk.key_version
    for _ in range(200):                       # a new MAK, issued by the other worker
        kiosk.sign_on()
        if kiosk.last_worker != cached_on:
            break
    assert kiosk.key_version > version and kiosk.last_worker != cached_on
    assert kiosk.heartbeat_on(lambda w: w == cached_on).mac_ok      # which held the old key


def test_a_bill_paid_over_8583_through_whichever_worker(host: WorkersHost, kiosks: dict[str, WorkerKiosk]) -> None:
    bill = kiosks["KIOSK-B"].post("/api/v1/households/bill", {"house_no": "3-2-1202"}).json
    terminal = Terminal(host.bank_port)
    assert terminal.sign_on().message.text(39) == "00"
    paid = pay_bill(terminal, "3-2-1202", bill, GOOD)
    assert paid[39] == "00"
    engine = make_engine(host.db_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(bank_link_journal)).scalar() >= 1
    engine.dispose()


def test_a_worker_killed_while_heartbeats_flow_is_restarted_and_no_heartbeat_is_lost(
        host: WorkersHost, kiosks: dict[str, WorkerKiosk]) -> None:
    """kill -9 of worker 1 (last in this module: it changes a pid). The kiosk's
    next heartbeat, with its next counter as a kiosk sends it after a broken
    connection, lands on the other worker; the supervisor starts worker 1 again."""
    kiosk = kiosks["KIOSK-A"]
    victim = next(w for w in host.workers() if w.startswith("1/"))
    accepted: list[int] = []
    broken: list[str] = []
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                reply = kiosk.heartbeat()
            except httpx.TransportError as exc:      # the connection the kill cut
                broken.append(type(exc).__name__)
                continue
            assert reply.status == 200, reply.body      # never a replay, never a 500
            accepted.append(kiosk.counter)

    sender = threading.Thread(target=beat)
    sender.start()
    try:
        wait_until(lambda: len(accepted) >= 5, what="heartbeats before the kill")
        os.kill(int(victim.split("/")[1]), signal.SIGKILL)
        after = len(accepted)
        wait_until(lambda: len(accepted) >= after + 10, what="heartbeats after the kill")
    finally:
        stop.set()
        sender.join(10)
    row = _row(host, "KIOSK-A")
    # the last accepted counter is written down; one cut by the kill may have committed too
    assert max(accepted) <= row.hb_counter <= kiosk.counter
    restarted = wait_until(lambda: [w for w in host.workers() if w.startswith("1/") and w != victim],
                           what="worker 1 started again")
    assert restarted


def test_sqlite_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    toml = tmp_path / "host.toml"
    toml.write_text(workers.workers_toml(workers.free_port(), workers.free_port()), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "host", "--config", str(toml), "--db", str(tmp_path / "h.sqlite3"),
                           "serve", "--workers", "2"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--workers 2 needs PostgreSQL" in done.stderr and "Traceback" not in done.stderr
