"""Commands ride on heartbeat replies: delivered until acknowledged, each
result committed before the kiosk is told to forget it, and a kiosk can only
acknowledge its own commands."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.support.databases import BACKENDS
from tests.support.fleet_env import FleetHost
from tests.support.fleet import wait_until
from host.schema.fleet import fleet_commands


pytestmark = pytest.mark.backends(*BACKENDS)


def _row(host: FleetHost, command_id: int):  # type: ignore[no-untyped-def]
    with host.engine.connect() as conn:
        return conn.execute(select(fleet_commands).where(fleet_commands.c.id == command_id)).one()


def test_a_command_is_delivered_until_acknowledged(fleet_host: FleetHost) -> None:
    kiosk = fleet_host.kiosk("KIOSK-A")
    assert kiosk.heartbeat().json["commands"] == []
    (command,) = fleet_host.send_command(["KIOSK-A"], "out_of_service", by="wang")
    assert _row(fleet_host, command.id).status == "queued"

    first = kiosk.heartbeat().json["commands"]
    assert first == [{"id": command.id, "token": command.token, "name": "out_of_service", "args": {}}]
    assert kiosk.heartbeat().json["commands"] == first           # again: the kiosk may have lost the reply
    assert fleet_host.fleet.commands.open_for("KIOSK-A")[0].status == "delivered"

    reply = kiosk.heartbeat(acks=[{"id": command.id, "status": "done", "result": "out of service"}],
                            out_of_service=True)
    assert reply.json == {"acked": [command.id], "commands": []}
    row = _row(fleet_host, command.id)                            # committed before the reply
    assert (row.status, row.result, row.created_by) == ("done", "out of service", "wang")
    assert row.acked_at is not None and row.delivered_at is not None
    assert kiosk.heartbeat().json["commands"] == []


def test_a_repeated_acknowledgement_is_confirmed_and_changes_nothing(fleet_host: FleetHost) -> None:
    kiosk = fleet_host.kiosk("KIOSK-A")
    (command,) = fleet_host.send_command(["KIOSK-A"], "print_test")
    kiosk.heartbeat()
    ack = {"id": command.id, "status": "failed", "result": "paper out"}
    assert kiosk.heartbeat(acks=[ack]).json["acked"] == [command.id]
    again = kiosk.heartbeat(acks=[{**ack, "status": "done", "result": "printed"}])
    assert again.json["acked"] == [command.id]                    # forget it: the host has it
    assert (_row(fleet_host, command.id).status, _row(fleet_host, command.id).result) == ("failed", "paper out")


def test_a_kiosk_cannot_acknowledge_another_kiosks_command(fleet_host: FleetHost) -> None:
    a, b = fleet_host.kiosk("KIOSK-A"), fleet_host.kiosk("KIOSK-B")
    (command,) = fleet_host.send_command(["KIOSK-A"], "restart_app")
    assert b.heartbeat().json["commands"] == []                   # B never sees A's commands
    reply = b.heartbeat(acks=[{"id": command.id, "status": "done", "result": "restarted"}])
    assert reply.status == 200 and reply.json["acked"] == [command.id]   # B may forget it: it changes nothing
    assert _row(fleet_host, command.id).status == "queued"
    assert a.heartbeat().json["commands"][0]["id"] == command.id   # still A's to run


def test_one_command_to_every_kiosk(fleet_host: FleetHost) -> None:
    kiosks = {k: fleet_host.kiosk(k) for k in ("KIOSK-A", "KIOSK-B", "KIOSK-C")}
    commands = fleet_host.send_command(list(kiosks), "upload_journal")
    assert len({c.batch for c in commands}) == 1 and commands[0].batch
    for command in commands:
        orders = kiosks[command.kiosk_id].heartbeat().json["commands"]
        assert [o["id"] for o in orders] == [command.id]
        kiosks[command.kiosk_id].heartbeat(acks=[{"id": command.id, "status": "done", "result": "uploaded 0"}])
    assert {_row(fleet_host, c.id).status for c in commands} == {"done"}


def test_commands_wait_for_a_kiosk_that_is_away_and_expire_if_it_never_comes(start_fleet_host) -> None:  # type: ignore[no-untyped-def]
    host = start_fleet_host(command_expiry_s=0.3, flush_interval_s=0.1, sweep_interval_s=0.05)
    (command,) = host.send_command(["KIOSK-C"], "print_test")
    host.kiosk("KIOSK-A").heartbeat()           # any request starts the fleet's background pass
    wait_until(lambda: _row(host, command.id).status == "expired", what="the command to expire")
    kiosk = host.kiosk("KIOSK-C")
    assert kiosk.heartbeat().json["commands"] == []
