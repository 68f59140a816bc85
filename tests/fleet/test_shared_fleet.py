"""The fleet of several workers (host.fleet.shared), in process: two Fleets
over one database stand for worker 0 (which sweeps and expires) and worker 1,
on both backends. What a heartbeat to one does, the other sees; offline
detection and command expiry change a row once (conditional UPDATEs), and a
command claimed by a heartbeat never expires. The HTTP and NOTIFY side is
tests/host/test_workers.py's."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from common.clock import ManualClock
from common.crypto import request_mac, tdes_decrypt
from host.bank.keys import load_kiosk, sign_on
from host.config import load_host_settings
from host.config.fleet import FleetSettings
from host.db import write_transaction
from host.fleet.service import HEARTBEAT_PATH, Fleet
from host.fleet.shared import _XID
from host.schema.fleet import fleet_commands, fleet_events, fleet_kiosks
from host.workers import WorkerRole
from tests.support.databases import BACKENDS, POSTGRESQL, Databases
from tests.support.fleet import FLEET_HOST_TOML, TMKS, status

pytestmark = pytest.mark.backends(*BACKENDS)
KIOSK = "KIOSK-A"
# no background tick during a test (it would race the explicit ones); 3 x 15 s + 2 s to go offline
SETTINGS = FleetSettings(sweep_interval_s=60, flush_interval_s=1)


@pytest.fixture
def engine(backend: str, databases: Databases, tmp_path: Path) -> Iterator[Engine]:
    with databases.empty(backend, tmp_path) as engine:
        yield engine


Beat = Callable[..., tuple[bytes, str]]


@pytest.fixture
def workers(engine: Engine, tmp_path: Path) -> Iterator[tuple[Fleet, Fleet, ManualClock, Beat]]:
    (tmp_path / "host.toml").write_text(FLEET_HOST_TOML, encoding="utf-8")
    settings = load_host_settings(tmp_path / "host.toml")
    clock = ManualClock()
    with write_transaction(engine) as conn:
        keys = sign_on(conn, load_kiosk(conn, KIOSK, TMKS[KIOSK]), TMKS[KIOSK], clock.now())
    mak = tdes_decrypt(TMKS[KIOSK], bytes.fromhex(str(keys["mac_key"])))
    counter = iter(range(1, 1000))

    def beat(**fields: Any) -> tuple[bytes, str]:
        acks = fields.pop("acks", [])
        raw = json.dumps({"kiosk_id": KIOSK, "counter": fields.pop("counter", None) or next(counter),
                          "type": "heartbeat", "key_version": keys["key_version"], "status": status(**fields),
                          "acks": acks}).encode()
        return raw, request_mac(mak, HEARTBEAT_PATH, raw).hex().upper()

    zero = Fleet(settings, engine, fleet_settings=SETTINGS, clock=clock, worker=WorkerRole(0, 2))
    one = Fleet(settings, engine, fleet_settings=SETTINGS, clock=clock, worker=WorkerRole(1, 2))
    yield zero, one, clock, beat
    zero.close()
    one.close()


def _history(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(fleet_events.c.kind).where(fleet_events.c.kiosk_id == KIOSK)
                                 .order_by(fleet_events.c.id)).scalars())


async def test_a_heartbeat_to_one_worker_is_the_other_s_state_and_floor(
        workers: tuple[Fleet, Fleet, ManualClock, Beat], engine: Engine) -> None:
    zero, one, _, beat = workers
    raw, mac = beat(counter=5, app_version="1.2.3")
    assert (await zero.heartbeat(raw, mac)).status == 200
    replay = await one.heartbeat(raw, mac)
    assert replay.status == 409 and json.loads(replay.body)["error"] == "replay"
    assert (await one.heartbeat(*beat(counter=4))).status == 409
    await one.sync()
    record = one.registry.records[KIOSK]
    assert record.online and record.hb_counter == 5 and record.status is not None
    assert record.status.app_version == "1.2.3"
    assert _history(engine) == ["online", "version"]


async def test_offline_once_by_worker_zero_seen_by_worker_one_and_back(
        workers: tuple[Fleet, Fleet, ManualClock, Beat], engine: Engine) -> None:
    zero, one, clock, beat = workers
    assert (await one.heartbeat(*beat(counter=1))).status == 200
    clock.advance(3 * 15 + 1)                          # not yet: the tolerance is 2 s
    assert zero.shared is not None and zero.shared.sweep() == []
    clock.advance(2)
    kinds = [e.kind for e in zero.shared.sweep()]
    assert kinds == ["history", "alert"] and zero.shared.sweep() == []      # once
    await one.tick()                                   # worker 1 does not sweep; it catches up
    record = one.registry.records[KIOSK]
    assert not record.online and ("offline", "") in record.alerts
    assert (await zero.heartbeat(*beat(counter=2))).status == 200
    await one.sync()
    assert one.registry.records[KIOSK].online and not one.registry.records[KIOSK].alerts
    assert _history(engine) == ["online", "version", "offline", "online"]


async def test_a_command_expires_once_unless_a_heartbeat_claimed_it(
        workers: tuple[Fleet, Fleet, ManualClock, Beat], engine: Engine) -> None:
    zero, one, clock, beat = workers
    assert zero.shared is not None
    [stale] = await one.send([KIOSK], "print_test", {}, "ops")
    clock.advance(3601)
    [claimed] = await one.send([KIOSK], "reload_config", {}, "ops")
    reply = json.loads((await zero.heartbeat(*beat())).body)
    assert [c["id"] for c in reply["commands"]] == [stale.id, claimed.id]   # not expired yet: both go out
    clock.advance(3601)
    assert zero.shared.expire(3600) == []              # both delivered: neither expires
    [late] = await one.send([KIOSK], "print_test", {}, "ops")
    clock.advance(3601)
    expired = zero.shared.expire(3600)
    assert [e.data.id for e in expired] == [late.id] and zero.shared.expire(3600) == []
    reply = json.loads((await one.heartbeat(*beat(acks=[{"id": stale.id, "status": "done"}]))).body)
    assert [c["id"] for c in reply["commands"]] == [claimed.id]
    with engine.connect() as conn:
        states = dict(conn.execute(select(fleet_commands.c.id, fleet_commands.c.status)).all())
    assert states == {stale.id: "done", claimed.id: "delivered", late.id: "expired"}


def _change(conn: Any, kiosk_id: str, counter: int) -> None:
    conn.execute(update(fleet_kiosks).where(fleet_kiosks.c.kiosk_id == kiosk_id)
                 .values(hb_counter=counter, changed_xid=_XID))


async def test_a_catch_up_reads_the_rows_changed_since_even_one_committed_late(
        workers: tuple[Fleet, Fleet, ManualClock, Beat], engine: Engine, backend: str) -> None:
    if backend != POSTGRESQL:
        pytest.skip("the change cursor is PostgreSQL's (several workers run on PostgreSQL only)")
    _, one, _, _ = workers
    assert one.shared is not None
    known = {k: (0, None) for k in TMKS}
    assert one.shared.changed_rows(known) == []        # the first catch-up: every row, none changed
    with engine.connect() as late:                     # a transaction that began before, commits after
        _change(late, "KIOSK-B", 7)
        with engine.begin() as conn:
            _change(conn, "KIOSK-A", 5)
        assert [r.kiosk_id for r in one.shared.changed_rows(known)] == ["KIOSK-A"]
        known["KIOSK-A"] = (5, None)
        late.commit()
    # B's transaction id is below A's: a cursor at the highest id seen would skip it for ever
    assert [(r.kiosk_id, r.hb_counter) for r in one.shared.changed_rows(known)] == [("KIOSK-B", 7)]
    known["KIOSK-B"] = (7, None)
    assert one.shared.changed_rows(known) == []
