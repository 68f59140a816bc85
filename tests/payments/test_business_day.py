"""A payment in flight across midnight lands on one business day, the same on
the kiosk and the host: the day the host booked it on (docs/payments.md,
"Business day"). The kiosk and the host each run on a clock of their own,
set a second before midnight, as two machines would be."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.clocks import TODAY
from tests.support.payments import (enter_pin, GOOD, kiosk_settings, money_is_conserved, RunningHost,
                                    settled, swipe)
from host.console.reconciliation import reconcile
from kiosk.bootstrap import Kiosk, build
from kiosk.devices.sim.network import FaultyLink, LinkMode
from common.clock import ManualClock
from kiosk.domain.errors import OutcomeUnknown

HOUSE = "1-1-1001"   # only a bill not yet overdue: the same amount on both sides of midnight
ACCRUING = "3-2-1202"   # overdue: its late fee grows at midnight
EVE = datetime.combine(TODAY, time(23, 59, 59))   # the last second of the shared estate's day
DAY, NEXT = EVE.date(), EVE.date() + timedelta(days=1)
MIDNIGHT = datetime.combine(NEXT, time())


@pytest.fixture
def host_clock() -> ManualClock:
    return ManualClock(EVE)


@pytest.fixture
def kiosk_clock() -> ManualClock:
    return ManualClock(EVE)


@pytest.fixture
def host(tmp_path: Path, start_host: Any, host_clock: ManualClock) -> Iterator[RunningHost]:
    server = start_host(tmp_path, host_clock)
    yield RunningHost(server.url, server.engine, server)
    server.bank.stop()
    if server.running:
        server.stop()
    server.engine.dispose()


@pytest.fixture
async def kiosk(tmp_path: Path, link: FaultyLink, kiosk_clock: ManualClock) -> AsyncIterator[Kiosk]:
    kiosk = build(kiosk_settings(tmp_path, link.url, bank_port=link.bank_port), with_fleet=False, clock=kiosk_clock)
    kiosk.settler._first_backoff_s = 0.05
    await kiosk.start()
    yield kiosk
    await kiosk.aclose()


async def _prepared(kiosk: Kiosk, house: str = HOUSE) -> tuple[Any, Any, bytes]:
    bill = await kiosk.bills.lookup(house)
    swiped = await swipe(kiosk, GOOD.track2)
    return bill, swiped, await enter_pin(kiosk, swiped, GOOD.pin)


def _days(host: RunningHost, txn_id: str, rrn: str) -> dict[str, set[str]]:
    """The business days the bank's record (by its RRN) and the ledger's (by the kiosk's id) are on."""
    bank = host.query("SELECT business_day FROM bank_link_journal WHERE rrn = :r", r=rrn)
    ledger = host.query("SELECT business_day FROM property_ledger WHERE txn_id = :t", t=txn_id)
    return {"bank_link_journal": {str(r.business_day) for r in bank},
            "property_ledger": {str(r.business_day) for r in ledger}}


async def test_sent_before_midnight_booked_after_counts_on_the_next_day_on_both_sides(
        kiosk: Kiosk, host: RunningHost, host_clock: ManualClock) -> None:
    bill, swiped, block = await _prepared(kiosk)
    host_clock.set(MIDNIGHT)                     # the message reaches the host at 00:00:00
    assert host.bill(HOUSE)["total_due_fen"] == bill.total_due.fen
    outcome = await kiosk.payments.pay(bill, swiped, block)
    assert outcome.approved
    assert outcome.txn_id.split("-")[-2].startswith(f"{DAY:%Y%m%d}235959")   # started on the kiosk's DAY

    await settled(kiosk)   # the kiosk's copy: stamped DAY 23:59:59 by its clock, booked on NEXT
    assert _days(host, outcome.txn_id, outcome.reference) == {
        t: {NEXT.isoformat()} for t in ("bank_link_journal", "property_ledger")}
    entry = kiosk.journal.get(outcome.txn_id)
    assert entry is not None and entry.detail["business_day"] == NEXT.isoformat()
    on_next, on_day = kiosk.journal.day_figures(NEXT.isoformat()), kiosk.journal.day_figures(DAY.isoformat())
    assert (on_next["approved_count"], on_next["approved_fen"]) == (1, outcome.amount.fen)
    assert on_day["count"] == 0

    (copy,) = host.query("SELECT at FROM property_backups WHERE txn_id = :t", t=outcome.txn_id)
    assert copy.at.startswith(DAY.isoformat())
    late, early = reconcile(host.engine, NEXT, NEXT), reconcile(host.engine, DAY, NEXT)
    assert late.balanced and late.backups.count == 1 and late.bank.captured_fen == outcome.amount.fen
    assert early.balanced and early.backups.count == 0 and early.bank.captured_fen == 0


async def test_booked_before_midnight_reversed_after_reconciles_on_both_days(
        kiosk: Kiosk, host: RunningHost, host_clock: ManualClock, link: FaultyLink) -> None:
    before, balance = host.totals(), host.balance(GOOD.pan)
    bill, swiped, block = await _prepared(kiosk)
    link.set_mode(LinkMode.DROP_REPLIES)         # booked at 23:59:59; the kiosk never hears it
    with pytest.raises(OutcomeUnknown):
        await kiosk.payments.pay(bill, swiped, block)
    (entry,) = kiosk.journal.pending()
    host_clock.set(MIDNIGHT + timedelta(seconds=2))
    link.set_mode(LinkMode.UP)
    await settled(kiosk)                         # the reversal reaches the host after midnight

    assert kiosk.journal.get(entry.txn_id).state == "reversed"
    assert host.balance(GOOD.pan) == balance
    money_is_conserved(before, host.totals())
    stan = kiosk.journal.bank_reversal_of(entry.txn_id).stan
    (line,) = host.query("SELECT state, code, business_day, reversed_at FROM bank_link_journal"
                         " WHERE stan = :s AND kind = 'purchase'", s=stan)
    # one line: approved on DAY, its reversal (time kept beside it) after midnight
    assert (line.state, line.code, str(line.business_day)) == ("reversed", "00", DAY.isoformat())
    assert str(line.reversed_at) >= MIDNIGHT.isoformat(sep=" ")
    for day in (DAY, NEXT):                      # each day's ledger matches the bank's journal
        assert reconcile(host.engine, day, NEXT).balanced, day
    assert reconcile(host.engine, DAY, NEXT).bank.net_fen == 0


async def test_a_bill_whose_late_fee_grew_at_midnight_is_charged_by_the_bank_and_settled_by_staff(
        kiosk: Kiosk, host: RunningHost, host_clock: ManualClock) -> None:
    """Shown at 23:59:59, paid at 00:00:00 when a day more of late fee is due.
    Over JSON the host's bank compared the amount with the bill and declined;
    a real bank cannot check a bill, so the bank charges what the resident
    saw. The ledger does not book a copy that no longer matches the bills due:
    reconciliation shows the bank's payment missing from the ledger, and staff
    settle it from the bank's record (the bank prevails) — to the fen."""
    before = host.totals()
    bill, swiped, block = await _prepared(kiosk, ACCRUING)
    host_clock.set(MIDNIGHT)
    assert host.bill(ACCRUING)["total_due_fen"] > bill.total_due.fen
    outcome = await kiosk.payments.pay(bill, swiped, block)
    assert outcome.approved and outcome.amount == bill.total_due
    await settled(kiosk)
    assert host.query("SELECT 1 FROM property_ledger WHERE reference = :r", r=outcome.reference) == []
    found = reconcile(host.engine, NEXT, NEXT)
    assert [(d.kind, d.reference, d.bank_fen) for d in found.differences] == [
        ("missing_in_ledger", outcome.reference, outcome.amount.fen)]

    from host.bank.link_ledger import settle_from_bank
    with host.engine.begin() as conn:
        booked = settle_from_bank(conn, outcome.reference, now=MIDNIGHT + timedelta(hours=9))
    assert booked["amount_fen"] == outcome.amount.fen and booked["txn_id"] == outcome.txn_id
    assert reconcile(host.engine, NEXT, NEXT).balanced
    assert host.bill(ACCRUING)["total_due_fen"] == 0
    money_is_conserved(before, host.totals())
