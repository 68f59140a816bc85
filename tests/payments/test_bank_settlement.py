"""The daily bank settlement, headless: the kiosk's real service graph
(bootstrap.build, simulated devices) against the real reference host and its
ISO 8583 front-end on loopback; the kiosk's clock a ManualClock, so "23:30"
comes when the test says (docs/bank-link.md "Settlement")."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.clock import ManualClock
from kiosk.backend_client.bank8583.store import Debit
from kiosk.bootstrap import Kiosk, build
from tests.support.clocks import TODAY
from tests.support.payments import GOOD, Links, RunningHost, kiosk_settings, pay

HOUSE = "3-2-1202"      # arrears and a late fee in the demo estate
SETTLE_AT = time(23, 30)  # config/kiosk.demo.toml [bank] settle_at


def _at(hh: int, mm: int, day: int = 0) -> datetime:
    return datetime.combine(TODAY + timedelta(days=day), time(hh, mm))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(_at(10, 30))


@pytest.fixture
async def make_kiosk(tmp_path: Path, link: Links, clock: ManualClock) -> AsyncIterator[Callable[..., Any]]:
    """Build and start the demo kiosk on `clock` (the same journal each time: a
    second one is the kiosk restarted); closes what is still open at the end."""
    made: list[Kiosk] = []

    async def make(**options: Any) -> Kiosk:
        kiosk = build(kiosk_settings(tmp_path, link.url, bank_port=link.bank_port), clock=clock,
                      with_fleet=False, **options)
        kiosk.settler._first_backoff_s = 0.05
        await kiosk.start()
        made.append(kiosk)
        return kiosk

    yield make
    for kiosk in made:
        if kiosk.journal is not None and kiosk.journal._db is not None:
            try:
                await kiosk.aclose()
            except Exception:   # noqa: BLE001 - closed by the test already
                pass


def host_settlements(host: RunningHost) -> list[Any]:
    return host.query("SELECT batch, result, kiosk_debit_fen, kiosk_debit_count, bank_debit_fen,"
                      " bank_debit_count, uploaded, closed_at FROM bank_link_settlements ORDER BY id")


async def test_settles_at_the_configured_time_once_a_day(host: RunningHost, make_kiosk, clock) -> None:
    kiosk = await make_kiosk()
    service = kiosk.bank_settlement
    assert service is not None and service.settle_at == SETTLE_AT
    _, outcome = await pay(kiosk, HOUSE, GOOD)
    assert outcome.approved
    batch = kiosk.journal.bank_batch()

    clock.set(_at(23, 29))
    assert not service.due() and await service.tick() is None
    assert host_settlements(host) == []

    clock.set(_at(23, 30))
    record = await service.tick()
    assert record is not None and record.balanced and record.trigger == "schedule"
    assert (record.batch, record.debit_count, record.debit_fen, record.uploaded) == \
        (batch, 1, outcome.amount.fen, 0)
    assert kiosk.journal.last_settlement() == record
    [row] = host_settlements(host)
    assert (row.batch, row.result, row.kiosk_debit_count, row.bank_debit_count, row.bank_debit_fen) == \
        (batch, "balanced", 1, 1, outcome.amount.fen)
    assert row.closed_at is not None
    assert kiosk.journal.bank_batch() == f"{int(batch) + 1:06d}"     # the batch closed

    clock.set(_at(23, 59))                        # not twice the same day
    assert not service.due() and await service.tick() is None
    clock.set(_at(23, 30, day=1))                 # the next day's time
    assert (await service.tick()) is not None
    assert len(host_settlements(host)) == 2
    # the heartbeat's report is the last outcome
    assert service.status() == kiosk.journal.last_settlement().status()


async def test_a_kiosk_off_at_the_time_settles_at_its_next_start(host: RunningHost, make_kiosk, clock) -> None:
    kiosk = await make_kiosk()
    _, outcome = await pay(kiosk, HOUSE, GOOD)
    assert outcome.approved
    await kiosk.aclose()                 # off from 10:30 ...
    clock.set(_at(8, 0, day=1))          # ... past 23:30, on again the next morning
    again = await make_kiosk()
    assert again.bank_settlement is not None
    await again.bank_settlement.tick()   # the start's own first look may have done it already
    [row] = host_settlements(host)
    assert (row.result, row.kiosk_debit_count) == ("balanced", 1)
    last = again.journal.last_settlement()
    assert last is not None and last.balanced and last.trigger == "schedule"
    assert not again.bank_settlement.due()


async def test_a_new_kiosk_does_not_settle_for_the_days_before_it(host: RunningHost, make_kiosk, clock) -> None:
    clock.set(_at(23, 45))               # first started after today's time: nothing to settle
    kiosk = await make_kiosk()
    assert kiosk.bank_settlement is not None and not kiosk.bank_settlement.due()
    assert await kiosk.bank_settlement.tick() is None and host_settlements(host) == []


async def test_unbalanced_totals_upload_the_batch(host: RunningHost, make_kiosk, clock) -> None:
    kiosk = await make_kiosk()
    _, outcome = await pay(kiosk, HOUSE, GOOD)
    assert outcome.approved
    batch = kiosk.journal.bank_batch()
    # the kiosk's totals disagree with the front-end's journal: a debit the bank never approved
    kiosk.journal.bank_record_debit(Debit(batch, "000777", "TXN-PHANTOM", 1234, "261121999999", "1121"))

    clock.set(_at(23, 31))
    record = await kiosk.bank_settlement.tick()
    assert record is not None and not record.balanced
    assert (record.debit_count, record.debit_fen, record.uploaded) == (2, outcome.amount.fen + 1234, 2)
    [row] = host_settlements(host)
    assert (row.result, row.kiosk_debit_count, row.bank_debit_count, row.uploaded) == ("unbalanced", 2, 1, 2)
    assert row.closed_at is not None                       # closed by the end of upload
    uploads = host.query("SELECT stan, amount_fen, matched FROM bank_link_uploads ORDER BY stan")
    assert [(u.stan, u.amount_fen, bool(u.matched)) for u in uploads][-1] == ("000777", 1234, False)
    assert sum(bool(u.matched) for u in uploads) == 1
    assert kiosk.journal.bank_batch() == f"{int(batch) + 1:06d}"
    assert kiosk.bank_settlement.status()["balanced"] is False


async def test_no_settlement_while_a_reversal_is_owed(host: RunningHost, link: Links, make_kiosk, clock) -> None:
    from kiosk.devices.sim.network import LinkMode
    from kiosk.domain.errors import OutcomeUnknown
    from tests.support.payments import enter_pin, swipe

    kiosk = await make_kiosk()
    bill = await kiosk.bills.lookup(HOUSE)
    swiped = await swipe(kiosk, GOOD.track2)
    block = await enter_pin(kiosk, swiped, GOOD.pin)
    link.bank.set_mode(LinkMode.CUT_AFTER_REQUEST)
    with pytest.raises(OutcomeUnknown):           # the 0200 went, its answer did not come: a reversal owed
        await kiosk.payments.pay(bill, swiped, block)
    link.bank.set_mode(LinkMode.DOWN)
    clock.set(_at(23, 31))
    assert await kiosk.bank_settlement.tick() is None         # the reversal cannot go: nor can the 0500
    assert host_settlements(host) == [] and kiosk.bank_settlement.due()
    link.bank.set_mode(LinkMode.UP)
    record = await kiosk.bank_settlement.tick()               # the reversal first, then the batch
    assert record is not None and record.balanced and record.debit_count == 0
    assert not kiosk.journal.bank_reversals("due") and not kiosk.journal.in_state("reversing")
    [row] = host_settlements(host)
    assert (row.result, row.bank_debit_count) == ("balanced", 0)   # the bank's debit was reversed


async def _until(check: Callable[[], Any], what: str, timeout_s: float = 15.0) -> Any:
    import asyncio
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not (value := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return value


async def test_staff_settle_now_from_the_console(host: RunningHost, link: Links, tmp_path: Path) -> None:
    """The whole way: an operator presses "settle now" on the kiosk's page (form
    post with its CSRF token), the command reaches the real kiosk with its next
    heartbeat, the kiosk settles with the front-end at its safe point and
    acknowledges; the page shows the bank's record, the audit names the operator."""
    import asyncio
    import dataclasses

    from host.console.accounts import Accounts
    from host.console.mount import console_of
    from tests.support.console_env import FAST, USERS, StaffClient

    settings = kiosk_settings(tmp_path, link.url, bank_port=link.bank_port)
    settings = dataclasses.replace(settings, fleet=dataclasses.replace(settings.fleet, heartbeat_interval_s=0.2))
    kiosk = build(settings, with_wallet=False)
    await kiosk.start()
    console = console_of(host.server.app)
    console.accounts = accounts = Accounts(host.engine, console.settings.console, cost=FAST, clock=console.clock.wall)
    staff = StaffClient(host.url)
    try:
        for name in ("duty",):
            password, role = USERS[name]
            await asyncio.to_thread(accounts.add, name, password, role, display_name=name, by="test")
        _, outcome = await pay(kiosk, HOUSE, GOOD)
        assert outcome.approved
        assert (await asyncio.to_thread(staff.sign_in, "duty", USERS["duty"][0])).status_code == 303
        page = (await asyncio.to_thread(staff.get, f"/console/kiosks/{settings.kiosk_id}")).text
        assert 'value="settle_now"' in page and 'id="settle-now"' in page
        no_token = await asyncio.to_thread(staff.post, f"/console/kiosks/{settings.kiosk_id}/commands",
                                           {"command": "settle_now"}, csrf=False)
        assert no_token.status_code == 403
        sent = await asyncio.to_thread(staff.post, f"/console/kiosks/{settings.kiosk_id}/commands",
                                       {"command": "settle_now"})
        assert sent.status_code == 303

        last = await _until(kiosk.journal.last_settlement, "the kiosk's settlement")
        assert last.trigger == "console" and last.balanced and last.debit_count == 1
        [row] = host_settlements(host)
        assert (row.result, row.kiosk_debit_fen) == ("balanced", outcome.amount.fen)
        await _until(lambda: host.query("SELECT result FROM fleet_commands WHERE name = 'settle_now'"
                                        " AND status = 'done'"), "the command's result on the host")
        page = (await asyncio.to_thread(staff.get, f"/console/kiosks/{settings.kiosk_id}")).text
        assert f"批次 {row.batch}" in page and "平账" in page
        [entry] = [e for e in (await asyncio.to_thread(console.audit.page, action="command_sent"))[0]]
        assert entry.username == "duty" and "settle_now" in str(entry.detail)
    finally:
        staff.close()
        await kiosk.aclose()
