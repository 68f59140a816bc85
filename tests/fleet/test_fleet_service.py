"""The kiosk's FleetService against the real host over loopback HTTP (its own
signed channel, BankClient sign-on and journal counter): heartbeats carry the
kiosk's state, commands run only at a safe point and never mid-transaction,
out of service refuses new transactions and survives a restart, each result
reaches the host once, and a command delivered twice runs once."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.databases import BACKENDS
from tests.support.fleet_env import FleetHost
from tests.support.fleet import headless_kiosk, HeadlessKiosk, TMKS
from host.schema.fleet import fleet_commands
from kiosk.backend_client.fleet import CommandOrder, HeartbeatReply
from kiosk.domain.errors import OutOfService
from kiosk.services.fleet.commands import CommandOutcome
from kiosk.services.fleet.service import FleetService

pytestmark = pytest.mark.backends(*BACKENDS)
INTERVAL = 0.2


@pytest.fixture
async def make_kiosk(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[HeadlessKiosk] = []

    async def make(host_url: str, kiosk_id: str = "KIOSK-A", **options: Any) -> HeadlessKiosk:
        folder = tmp_path / kiosk_id
        folder.mkdir(exist_ok=True)
        kiosk = await headless_kiosk(host_url, kiosk_id, folder, TMKS[kiosk_id], interval_s=INTERVAL, **options)
        made.append(kiosk)
        return kiosk

    yield make
    for kiosk in made:
        await kiosk.close()


async def until(check: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    """Wait on the event loop (the host runs in its own thread) for a condition."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not (value := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return value


def command_row(host: FleetHost, command_id: int) -> Any:
    with host.engine.connect() as conn:
        return conn.execute(select(fleet_commands).where(fleet_commands.c.id == command_id)).one()


async def test_heartbeats_carry_the_kiosks_state(fleet_host: FleetHost, make_kiosk) -> None:  # type: ignore[no-untyped-def]
    kiosk = await make_kiosk(fleet_host.url, start=False)
    kiosk.journal.record_intent("T-1", kind="bill_payment", house_no="3-2-1202", amount_fen=12345,
                                masked_pan="622202******0017", detail={})
    kiosk.journal.set_state("T-1", "approved")
    kiosk.journal.record_intent("T-2", kind="bill_payment", house_no="1-1-101", amount_fen=500,
                                masked_pan="621700******0002", detail={})
    kiosk.journal.set_state("T-2", "reversing")
    kiosk.fleet.screen = "bill"
    kiosk.fleet.devices.fault("pin_pad", "no answer")
    await kiosk.fleet.start()
    record = fleet_host.fleet.registry.records["KIOSK-A"]
    await until(lambda: record.status is not None, what="the first heartbeat")
    status = record.status
    assert record.online and record.interval_s == INTERVAL
    assert status.screen == "bill" and status.devices["pin_pad"].state == "fault"
    assert status.devices["pin_pad"].reason == "no answer"
    assert (status.today.day, status.today.count, status.today.approved_fen) == (
        datetime.now().date().isoformat(), 2, 12345)
    assert (status.backlog.reversals, status.backlog.backups) == (1, 0)
    assert status.app_version and not status.out_of_service
    counter = record.hb_counter
    await until(lambda: record.hb_counter > counter, what="the next heartbeat on the interval")


async def test_a_command_arriving_mid_transaction_waits_until_it_ends(fleet_host: FleetHost, make_kiosk) -> None:  # type: ignore[no-untyped-def]
    kiosk = await make_kiosk(fleet_host.url)
    fleet = kiosk.fleet
    changes: list[bool] = []
    fleet.on_out_of_service_change(changes.append)
    await until(lambda: fleet.connected, what="the kiosk online")

    handle = await fleet.begin_transaction()              # a resident is paying
    assert fleet.busy
    (command,) = fleet_host.send_command(["KIOSK-A"], "out_of_service")
    await until(lambda: fleet_host.fleet.commands.open_for("KIOSK-A")[0].status == "delivered", what="delivery")
    for _ in range(5):                                    # several heartbeats go by: the command waits
        assert await fleet.beat()
    record = fleet_host.fleet.registry.records["KIOSK-A"]
    assert not fleet.out_of_service and changes == []
    assert record.status.in_transaction and not record.status.out_of_service
    assert fleet_host.fleet.commands.open_for("KIOSK-A")[0].status == "delivered"

    handle.end()                                          # the transaction is over
    await until(lambda: fleet.out_of_service, what="out of service at the safe point")
    assert changes == [True]
    await until(lambda: command_row(fleet_host, command.id).status == "done", what="the acknowledgement")
    assert command_row(fleet_host, command.id).result == "out of service"
    await until(lambda: record.status.out_of_service, what="the host to see it out of service")
    with pytest.raises(OutOfService):                     # accepts no cards
        await fleet.begin_transaction()

    (back,) = fleet_host.send_command(["KIOSK-A"], "in_service")
    await until(lambda: not fleet.out_of_service, what="back in service")
    assert changes == [True, False]
    await until(lambda: command_row(fleet_host, back.id).status == "done", what="the acknowledgement")
    (await fleet.begin_transaction()).end()


async def test_a_transaction_waits_while_a_command_runs(fleet_host: FleetHost, make_kiosk) -> None:  # type: ignore[no-untyped-def]
    release = asyncio.Event()
    started = asyncio.Event()

    async def reload_config(_: dict[str, Any]) -> str:
        started.set()
        await release.wait()
        return "reloaded"

    kiosk = await make_kiosk(fleet_host.url, handlers={"reload_config": reload_config})
    fleet_host.send_command(["KIOSK-A"], "reload_config")
    await asyncio.wait_for(started.wait(), 10)
    begin = asyncio.ensure_future(kiosk.fleet.begin_transaction())
    await asyncio.sleep(0.05)
    assert not begin.done() and not kiosk.fleet.busy     # no card is asked for while it reloads
    release.set()
    handle = await asyncio.wait_for(begin, 5)
    assert kiosk.fleet.busy
    handle.end()
    handle.end()                                          # idempotent
    assert not kiosk.fleet.busy


async def test_results_of_every_kind_reach_the_host(fleet_host: FleetHost, make_kiosk) -> None:  # type: ignore[no-untyped-def]
    async def broken(_: dict[str, Any]) -> str:
        raise RuntimeError("printer lid open")

    kiosk = await make_kiosk(fleet_host.url, handlers={"print_test": broken})
    failed, unsupported = (fleet_host.send_command(["KIOSK-A"], name)[0] for name in ("print_test", "reload_config"))
    await until(lambda: command_row(fleet_host, unsupported.id).status == "unsupported", what="unsupported")
    await until(lambda: command_row(fleet_host, failed.id).status == "failed", what="failed")
    assert command_row(fleet_host, failed.id).result == "RuntimeError: printer lid open"
    assert "reload_config" in command_row(fleet_host, unsupported.id).result
    await until(lambda: not kiosk.fleet.pending_results, what="the results confirmed")


async def test_out_of_service_survives_a_restart(fleet_host: FleetHost, make_kiosk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kiosk = await make_kiosk(fleet_host.url)
    fleet_host.send_command(["KIOSK-A"], "out_of_service")
    await until(lambda: kiosk.fleet.out_of_service, what="out of service")
    await kiosk.fleet.stop()
    again = FleetService(kiosk.fleet.client, interval_s=INTERVAL, state_path=tmp_path / "KIOSK-A" / "fleet-state.json")
    assert again.out_of_service
    with pytest.raises(OutOfService):
        await again.begin_transaction()


async def test_restart_app_reports_its_result_and_never_runs_twice(fleet_host: FleetHost, make_kiosk,
                                                                   tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    restarts: list[str] = []

    async def restart_app(_: dict[str, Any]) -> CommandOutcome:
        return CommandOutcome("restarting", after_ack=lambda: restarts.append("restarted"))

    state = tmp_path / "KIOSK-A" / "fleet-state.json"
    kiosk = await make_kiosk(fleet_host.url, handlers={"restart_app": restart_app}, state_path=state)
    (command,) = fleet_host.send_command(["KIOSK-A"], "restart_app")
    await until(lambda: restarts, what="the restart")
    assert command_row(fleet_host, command.id).status == "done"    # reported before the process would go
    await kiosk.fleet.stop()

    # the app comes back with the same state file; the host delivers nothing twice
    reborn = await make_kiosk(fleet_host.url, "KIOSK-A", handlers={"restart_app": restart_app}, state_path=state)
    for _ in range(3):                                    # heartbeats go by, now rather than on the interval
        assert await reborn.fleet.beat()
    assert restarts == ["restarted"] and reborn.fleet.connected


class ScriptedClient:
    """A host that keeps delivering the same command and, until told, does not
    confirm results (its replies are lost, or it restarted before writing them)."""

    def __init__(self, order: CommandOrder) -> None:
        self.order: CommandOrder | None = order
        self.confirm = False
        self.sent_acks: list[list[dict[str, Any]]] = []

    async def heartbeat(self, *, interval_s: float, status: dict[str, Any], acks: list[dict[str, Any]]) -> HeartbeatReply:
        self.sent_acks.append(list(acks))
        acked = frozenset(a["id"] for a in acks) if self.confirm else frozenset()
        if self.order is not None and self.order.id in acked:
            self.order = None                      # recorded: no longer delivered
        return HeartbeatReply(acked, (self.order,) if self.order else ())


async def test_a_command_delivered_again_runs_once_and_its_result_is_resent(tmp_path: Path) -> None:
    runs: list[dict[str, Any]] = []

    async def upload_journal(args: dict[str, Any]) -> str:
        runs.append(args)
        return "uploaded 3 item(s)"

    order = CommandOrder(7, "a1b2", "upload_journal", {})
    client = ScriptedClient(order)
    state = tmp_path / "state.json"
    fleet = FleetService(client, interval_s=3600, handlers={"upload_journal": upload_journal},  # type: ignore[arg-type]
                         state_path=state)
    await fleet.start()                                    # beats once now, then only when asked
    try:
        await until(lambda: fleet.pending_results, what="the command to run")
        for _ in range(3):
            await fleet.beat()                             # delivered again each time
        await asyncio.sleep(0.05)
        assert len(runs) == 1
        assert client.sent_acks[-1] == [{"id": 7, "status": "done", "result": "uploaded 3 item(s)"}]
    finally:
        await fleet.stop()

    restarted = FleetService(client, interval_s=3600, handlers={"upload_journal": upload_journal},  # type: ignore[arg-type]
                             state_path=state)
    await restarted.start()
    try:
        await restarted.beat()                             # after a restart: still not run again
        await asyncio.sleep(0.05)
        assert len(runs) == 1 and restarted.pending_results
        client.confirm = True
        await restarted.beat()                             # the host records it: forget it
        await restarted.beat()
        assert client.sent_acks[-1] == [] and restarted.pending_results == []

        client.order = CommandOrder(7, "ffff", "upload_journal", {})   # same id, a new host database
        await restarted.beat()
        await until(lambda: len(runs) == 2, what="the new command to run")
    finally:
        await restarted.stop()


async def test_a_kiosk_signs_on_when_the_host_has_no_key_for_it(fleet_host: FleetHost, make_kiosk) -> None:  # type: ignore[no-untyped-def]
    kiosk = await make_kiosk(fleet_host.url, "KIOSK-B", sign_on=False)
    await until(lambda: fleet_host.fleet.registry.records["KIOSK-B"].online, what="online after its own sign-on")
    assert kiosk.bank.keys is not None


async def test_a_busy_kiosk_does_not_sign_on_mid_transaction(fleet_host: FleetHost, make_kiosk) -> None:  # type: ignore[no-untyped-def]
    kiosk = await make_kiosk(fleet_host.url, "KIOSK-B", sign_on=False, start=False)
    handle = await kiosk.fleet.begin_transaction()
    assert not await kiosk.fleet.beat()                    # a new PIN key now would void the PIN block
    assert kiosk.bank.keys is None
    handle.end()
    assert await kiosk.fleet.beat() and kiosk.bank.keys is not None


async def test_the_host_down_is_a_missed_heartbeat_not_a_crash(fleet_host: FleetHost, make_kiosk) -> None:  # type: ignore[no-untyped-def]
    kiosk = await make_kiosk(fleet_host.url)
    await until(lambda: kiosk.fleet.connected, what="connected")
    fleet_host.server.stop()
    await until(lambda: not kiosk.fleet.connected, what="the missed heartbeat")
    fleet_host.server.start()
    await until(lambda: kiosk.fleet.connected, what="connected again")


class QuietHost:
    async def heartbeat(self, *, interval_s: float, status: dict[str, Any], acks: list[dict[str, Any]]) -> HeartbeatReply:
        return HeartbeatReply(frozenset(), ())


async def test_stop_is_never_lost_to_a_wake_up_at_the_same_moment() -> None:
    """asyncio.wait_for on 3.11 swallows a cancellation that lands as its awaitable
    completes; the heartbeat loop waits with asyncio.timeout so stop() always stops."""
    for _ in range(20):
        fleet = FleetService(QuietHost(), interval_s=60)  # type: ignore[arg-type]
        await fleet.start()
        await asyncio.sleep(0.01)                  # the first beat is done; the loop waits
        fleet.beat_soon()                           # a wake-up ...
        await asyncio.wait_for(fleet.stop(), 2)    # ... and a stop in the same moment
