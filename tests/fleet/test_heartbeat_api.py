"""POST /api/v1/fleet/heartbeat over real HTTP: a heartbeat is a signed kiosk
message (X9.19 under the kiosk's MAK, strictly increasing counter), so one
kiosk cannot speak for another, a replay is refused, and a refusal changes
nothing. Heartbeats cost no database work."""
from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import event, select

from tests.support.databases import BACKENDS
from tests.support.fleet_env import FleetHost
from tests.support.fleet import SignedKiosk, status, TMKS, wait_until
from host.schema.fleet import fleet_commands, fleet_events, fleet_kiosks
from common.crypto import request_mac

pytestmark = pytest.mark.backends(*BACKENDS)
HEARTBEAT = "/api/v1/fleet/heartbeat"


def test_a_heartbeat_is_taken_and_answered_under_the_kiosks_key(fleet_host: FleetHost) -> None:
    kiosk = fleet_host.kiosk("KIOSK-A")
    reply = kiosk.heartbeat(screen="bill", uptime_s=42)
    assert reply.status == 200 and reply.mac_ok
    assert reply.json == {"acked": [], "commands": []}
    record = fleet_host.fleet.registry.records["KIOSK-A"]
    assert record.online and record.status.screen == "bill" and record.status.uptime_s == 42
    assert record.status.devices["printer"].state == "ok"
    assert record.hb_counter == kiosk.counter


def test_kiosk_a_cannot_speak_for_kiosk_b(fleet_host: FleetHost) -> None:
    a = fleet_host.kiosk("KIOSK-A")
    fleet_host.kiosk("KIOSK-B")                               # B is signed on too: it has a key of its own
    forged = a.heartbeat_body(kiosk_id="KIOSK-B", screen="idle")
    reply = a.send(HEARTBEAT, forged, a.mak)                  # B's id, A's MAK
    assert reply.status == 401 and reply.json["error"] == "bad_mac"
    assert not reply.mac_ok                                   # answered under B's key, which A does not have
    assert fleet_host.fleet.registry.records["KIOSK-B"].never_seen


def test_a_kiosk_that_knows_only_its_own_tmk_cannot_forge(fleet_host: FleetHost) -> None:
    a = fleet_host.kiosk("KIOSK-A")
    fleet_host.kiosk("KIOSK-B")
    body = a.heartbeat_body(kiosk_id="KIOSK-B")
    for key in (TMKS["KIOSK-A"], TMKS["KIOSK-B"]):            # not even B's TMK: heartbeats need the MAK
        assert a.send(HEARTBEAT, body, key).json["error"] == "bad_mac"
    assert fleet_host.fleet.registry.records["KIOSK-B"].never_seen


def test_bad_or_missing_mac_is_refused_and_changes_nothing(fleet_host: FleetHost) -> None:
    kiosk = fleet_host.kiosk("KIOSK-A")
    raw = kiosk.heartbeat_body(screen="idle")
    assert kiosk.send(HEARTBEAT, raw, None).json["error"] == "bad_mac"
    assert kiosk.send(HEARTBEAT, raw, None, mac="00" * 8).json["error"] == "bad_mac"
    tampered = raw.replace(b'"idle"', b'"evil"')
    assert kiosk.send(HEARTBEAT, tampered, None, mac=request_mac(kiosk.mak, HEARTBEAT, raw).hex()).json["error"] == "bad_mac"
    record = fleet_host.fleet.registry.records["KIOSK-A"]
    assert record.never_seen and record.hb_counter == 0
    assert kiosk.send(HEARTBEAT, raw, kiosk.mak).status == 200          # the genuine one still goes through


def test_replays_and_old_counters_are_refused(fleet_host: FleetHost) -> None:
    kiosk = fleet_host.kiosk("KIOSK-A")
    first = kiosk.heartbeat_body(screen="idle")
    assert kiosk.send(HEARTBEAT, first, kiosk.mak).status == 200
    replay = kiosk.send(HEARTBEAT, first, kiosk.mak)
    assert replay.status == 409 and replay.json["error"] == "replay" and replay.mac_ok
    older = kiosk.heartbeat_body(screen="swipe")
    newer = kiosk.heartbeat_body(screen="bill")
    assert kiosk.send(HEARTBEAT, newer, kiosk.mak).status == 200       # arrives first
    assert kiosk.send(HEARTBEAT, older, kiosk.mak).json["error"] == "replay"
    assert fleet_host.fleet.registry.records["KIOSK-A"].status.screen == "bill"


def test_heartbeat_counters_are_checked_against_the_bank_channel_after_a_loss(fleet_host: FleetHost) -> None:
    """With no heartbeat on record (a new host, or one that lost its state), the
    bank channel's last counter is the floor: an old captured heartbeat is refused."""
    kiosk = fleet_host.kiosk("KIOSK-A")                        # sign-on used counter 1
    stale = kiosk.heartbeat_body(counter=1)
    reply = kiosk.send(HEARTBEAT, stale, kiosk.mak)
    assert reply.status == 409 and reply.json["error"] == "replay"


def test_unknown_and_not_signed_on_kiosks(fleet_host: FleetHost) -> None:
    stranger = SignedKiosk(fleet_host.url, "KIOSK-Z", TMKS["KIOSK-A"])
    try:
        reply = stranger.send(HEARTBEAT, stranger.heartbeat_body(), TMKS["KIOSK-A"])
        assert reply.status == 401 and reply.json["error"] == "unknown_kiosk" and reply.mac is None
    finally:
        stranger.close()
    c = fleet_host.kiosk("KIOSK-C", signed_on=False)
    reply = c.send(HEARTBEAT, c.heartbeat_body(), TMKS["KIOSK-C"])
    assert reply.status == 401 and reply.json["error"] == "not_signed_on" and reply.mac is None


def test_a_new_sign_on_retires_the_old_key(fleet_host: FleetHost) -> None:
    kiosk = fleet_host.kiosk("KIOSK-A")
    assert kiosk.heartbeat().status == 200
    old_mak = kiosk.mak
    kiosk.sign_on()                                            # key_version 2
    assert kiosk.heartbeat().status == 200                     # the fleet loads the new key
    late = kiosk.heartbeat_body()
    reply = kiosk.send(HEARTBEAT, late, old_mak)
    assert reply.status == 401 and reply.json["error"] == "bad_mac"


def test_malformed_reports_are_refused_under_the_key(fleet_host: FleetHost) -> None:
    kiosk = fleet_host.kiosk("KIOSK-A")
    cases = [
        {"type": "heartbeat", "status": status(devices={"printer": {"state": "on fire"}})},
        {"type": "heartbeat", "status": status(uptime_s=-1)},
        {"type": "heartbeat", "status": status(screen="<script>")},
        {"type": "heartbeat", "status": status(), "interval_s": 0},
        {"type": "heartbeat", "status": status(), "acks": [{"id": 1, "status": "maybe"}]},
        {"status": status()},                                   # not a heartbeat
    ]
    for fields in cases:
        reply = kiosk.send(HEARTBEAT, kiosk.body(fields), kiosk.mak)
        assert reply.status == 400 and reply.json["error"] == "bad_request" and reply.mac_ok, fields
    assert fleet_host.fleet.registry.records["KIOSK-A"].never_seen
    assert kiosk.send(HEARTBEAT, b"not json", None).status == 400
    too_big = kiosk.body({"type": "heartbeat", "pad": "x" * 70_000})
    assert kiosk.send(HEARTBEAT, too_big, kiosk.mak).status == 413


def test_texts_no_database_can_hold_are_kept_legibly(start_fleet_host) -> None:  # type: ignore[no-untyped-def]
    """A NUL (PostgreSQL refuses it in text; SQLite keeps it) or a lone UTF-16
    surrogate (JSON's "\\ud800": neither driver encodes it) in a kiosk's free text
    is stored as U+FFFD: the acknowledgement is no 500 and the flush is not stuck."""
    host = start_fleet_host(flush_interval_s=0.1, sweep_interval_s=0.05)   # the background pass: often
    kiosk = host.kiosk("KIOSK-A")
    (command,) = host.send_command(["KIOSK-A"], "print_test")
    kiosk.heartbeat()                                          # delivered

    def escaped(raw: bytes) -> bytes:                          # as a kiosk's ensure_ascii JSON carries them
        return raw.replace(b"<NUL>", b"\\u0000").replace(b"<SUR>", b"\\udc80")
    ack = kiosk.heartbeat_body(acks=[{"id": command.id, "status": "failed", "result": "lid<NUL>open<SUR>"}])
    reply = kiosk.send(HEARTBEAT, escaped(ack), kiosk.mak)
    assert reply.status == 200 and reply.json["acked"] == [command.id]
    with host.engine.connect() as conn:
        row = conn.execute(select(fleet_commands).where(fleet_commands.c.id == command.id)).one()
    assert (row.status, row.result) == ("failed", "lid\ufffdopen\ufffd")

    report = kiosk.heartbeat_body(devices={"printer": {"state": "fault", "reason": "jam<NUL>"}},
                                  last_error={"message": "no file /var/<SUR>", "at": "x<NUL>"})
    assert kiosk.send(HEARTBEAT, escaped(report), kiosk.mak).status == 200

    def written() -> object:
        with host.engine.connect() as conn:
            counter = conn.execute(select(fleet_kiosks.c.hb_counter).where(fleet_kiosks.c.kiosk_id == "KIOSK-A"))
            if counter.scalar_one() != kiosk.counter:
                return None
            return conn.execute(select(fleet_events.c.kind, fleet_events.c.state, fleet_events.c.detail)
                                .where(fleet_events.c.kind.in_(["device", "error"])).order_by(fleet_events.c.id)).all()
    events = wait_until(written, what="the periodic flush")
    assert [tuple(e) for e in events] == [("device", "fault", "jam\ufffd"), ("error", "x\ufffd", "no file /var/\ufffd")]


def test_heartbeats_cost_no_database_statement(start_fleet_host) -> None:  # type: ignore[no-untyped-def]
    fleet_host = start_fleet_host(flush_interval_s=300)        # no periodic write during the test
    kiosk = fleet_host.kiosk("KIOSK-A")
    assert kiosk.heartbeat().status == 200                      # the first one loads the kiosk's key
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)
    event.listen(fleet_host.engine, "before_cursor_execute", count)
    try:
        for i in range(20):
            assert kiosk.heartbeat(uptime_s=100 + i).status == 200
    finally:
        event.remove(fleet_host.engine, "before_cursor_execute", count)
    assert statements == []                                     # keys from the cache, state in memory


def test_a_history_read_while_it_is_written_down_misses_no_line(start_fleet_host, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A batch being written down has left the fleet's memory and is not in its table
    until the commit: a page read then still shows every line, once (seen under xdist:
    the console's kiosk page missing an older line)."""
    fleet_host = start_fleet_host(flush_interval_s=300)        # only the flush below writes
    fleet = fleet_host.fleet
    kiosk = fleet_host.kiosk("KIOSK-A")
    assert kiosk.heartbeat().status == 200                      # online
    assert kiosk.heartbeat(last_error={"message": "paper low", "at": "08:00:00"}).status == 200
    before = fleet.history("KIOSK-A")
    seen: list[Any] = []
    write = fleet.store.flush

    def flush(kiosks, history, states):  # type: ignore[no-untyped-def]
        seen.append((len(history), fleet.history("KIOSK-A")))   # taken from memory, not committed
        write(kiosks, history, states)
        seen.append((len(history), fleet.history("KIOSK-A")))   # committed, not yet let go
    monkeypatch.setattr(fleet.store, "flush", flush)
    fleet.flush_blocking()
    assert len(before) >= 2 and seen == [(len(before), before)] * 2
    assert fleet.history("KIOSK-A") == before


def test_fleet_state_is_written_down_and_survives_a_restart(start_fleet_host) -> None:  # type: ignore[no-untyped-def]
    from host.app import create_app
    from host.console.mount import console_of
    from host.server import HostServer

    host = start_fleet_host(flush_interval_s=0.1, sweep_interval_s=0.05)   # written within ~0.15 s
    kiosk = host.kiosk("KIOSK-A")
    last = kiosk.heartbeat_body(screen="entry")
    assert kiosk.send(HEARTBEAT, last, kiosk.mak).status == 200

    def written() -> object:
        with host.engine.connect() as conn:
            row = conn.execute(select(fleet_kiosks).where(fleet_kiosks.c.kiosk_id == "KIOSK-A")).one()
        return row if row.hb_counter == kiosk.counter else None
    row = wait_until(written, what="the periodic flush")
    assert json.loads(row.status_json)["screen"] == "entry" and row.last_seen is not None
    host.server.stop()

    clock = console_of(host.app).clock                                # the same time, running on
    again = HostServer(create_app(host.settings, host.engine, clock=clock))   # a new process, the same database
    again.start()
    try:
        kiosk.base_url = again.url
        replay = kiosk.send(HEARTBEAT, last, kiosk.mak)
        assert replay.status == 409 and replay.json["error"] == "replay"
        assert kiosk.heartbeat().status == 200
    finally:
        again.stop()
