"""When the outcome is unknown the kiosk reverses, and no new payment starts
until the bank acknowledges; after a crash it reverses before serving."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.support.payments import enter_pin, GOOD, kiosk_settings, money_is_conserved, pay, settled, swipe
from kiosk.bootstrap import build
from kiosk.devices.sim.network import LinkMode
from kiosk.domain.errors import HostUnavailable, OutcomeUnknown, PaymentsSuspended

HOUSE = "3-2-1202"


async def until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def captured(host, kiosk, txn_id: str) -> bool:
    """The bank's journal holds the purchase approved (found by the STAN the
    link journaled its reversal under)."""
    owed = kiosk.journal.bank_reversal_of(txn_id)
    return owed is not None and bool(host.query(
        "SELECT 1 FROM bank_link_journal WHERE stan = :s AND kind = 'purchase' AND state = 'approved'", s=owed.stan))


async def _prepared(kiosk, house=HOUSE, card=GOOD):
    bill = await kiosk.bills.lookup(house)
    swiped = await swipe(kiosk, card.track2)
    return bill, swiped, await enter_pin(kiosk, swiped, card.pin)


@pytest.mark.parametrize("fault", [LinkMode.DROP_REPLIES, LinkMode.CUT_AFTER_REQUEST, LinkMode.TAMPER_REPLIES])
async def test_unknown_outcome_is_reversed_and_nothing_is_charged(kiosk, host, link, fault):
    before, balance, due = host.totals(), host.balance(GOOD.pan), host.bill(HOUSE)["total_due_fen"]
    bill, swiped, block = await _prepared(kiosk)
    link.set_mode(fault)
    with pytest.raises(OutcomeUnknown):
        await kiosk.payments.pay(bill, swiped, block)
    (entry,) = kiosk.journal.pending()
    assert entry.state == "reversing"
    # the bank did capture it (the request arrived); the kiosk cannot know that
    await until(lambda: captured(host, kiosk, entry.txn_id))
    with pytest.raises(PaymentsSuspended):       # no new payment while it is pending
        await kiosk.payments.read_card(1)

    link.set_mode(LinkMode.UP)
    await settled(kiosk)
    assert kiosk.journal.get(entry.txn_id).state == "reversed"
    assert host.balance(GOOD.pan) == balance
    assert host.bill(HOUSE)["total_due_fen"] == due
    after = host.totals()
    money_is_conserved(before, after)
    assert after["bank_balances_fen"] == before["bank_balances_fen"]
    _, again = await pay(kiosk, HOUSE, GOOD)      # and the kiosk is back in service
    assert again.approved


async def test_host_refusing_connections_means_nothing_was_sent(kiosk, host, link):
    before = host.totals()
    bill, swiped, block = await _prepared(kiosk)
    link.set_mode(LinkMode.DOWN)
    with pytest.raises(HostUnavailable):
        await kiosk.payments.pay(bill, swiped, block)
    assert [e.state for e in kiosk.journal.recent()] == ["not_sent"]
    assert not kiosk.payments.suspended and host.totals() == before


async def test_reversal_retries_until_the_host_is_back(kiosk, host, link):
    before = host.totals()
    bill, swiped, block = await _prepared(kiosk)
    link.set_mode(LinkMode.DROP_REPLIES)
    with pytest.raises(OutcomeUnknown):
        await kiosk.payments.pay(bill, swiped, block)
    link.set_mode(LinkMode.DOWN)
    assert not await kiosk.settler.settle_once()
    assert kiosk.payments.suspended
    link.set_mode(LinkMode.UP)
    await settled(kiosk)          # the background worker or this pass: either acknowledges once
    assert not kiosk.payments.suspended
    # one 0400 acknowledged, one purchase reversed: never twice
    reversed_ = host.query("SELECT COUNT(*) FROM bank_link_journal WHERE state = 'reversed'")[0][0]
    assert reversed_ == 1 and [r.state for r in kiosk.journal.bank_reversals("armed", "due", "done")] == ["done"]
    money_is_conserved(before, host.totals())


async def test_backup_copies_are_stored_and_forwarded(kiosk, host, link):
    """The copy goes right after approval, before the result screen: the
    property ledger knows of the payment when the resident sees it."""
    before = host.totals()
    _, outcome = await pay(kiosk, HOUSE, GOOD)
    assert kiosk.journal.unsent_backups() == []
    rows = host.query("SELECT txn_id FROM property_backups")
    assert [r[0] for r in rows] == [outcome.txn_id]
    assert host.bill(HOUSE)["total_due_fen"] == 0
    money_is_conserved(before, host.totals())


async def test_a_queued_copy_shows_the_bill_paid_and_it_is_never_offered_again(kiosk, host, link):
    """The bank approved over the link but the property host cannot be reached
    for the copy: the ledger does not know yet, so this kiosk shows the bill
    paid (upload pending) until the copy is through."""
    await kiosk.settler.stop()            # the test moves the copy itself
    before = host.totals()
    bill = await kiosk.bills.lookup(HOUSE)
    swiped = await swipe(kiosk, GOOD.track2)
    block = await enter_pin(kiosk, swiped, GOOD.pin)
    link.http.set_mode(LinkMode.DOWN)     # the bank link stays up
    outcome = await kiosk.payments.pay(bill, swiped, block)
    assert outcome.approved and [t for t, _ in kiosk.journal.unsent_backups()] == [outcome.txn_id]
    link.http.set_mode(LinkMode.UP)
    assert host.bill(HOUSE)["total_due_fen"] == bill.total_due.fen      # the host has not heard
    shown = await kiosk.bills.lookup(HOUSE)
    assert shown.upload_pending and shown.nothing_due and shown.arrears == ()
    assert await kiosk.settler.settle_once()
    assert kiosk.journal.unsent_backups() == [] and host.bill(HOUSE)["total_due_fen"] == 0
    again = await kiosk.bills.lookup(HOUSE)
    assert again.nothing_due and not again.upload_pending
    money_is_conserved(before, host.totals())


async def test_stale_mac_key_signs_on_again_and_asks_for_the_pin_again(kiosk, host):
    """The bank front-end no longer accepts the link's MAK: it answers A0 and
    changes nothing; the kiosk signs the link on again (new keys, so the PIN
    block it holds, under the old PIK, is void) and the resident enters the
    PIN again. The wrong-PIN counter is not touched."""
    import dataclasses
    before = host.totals()
    bill = await kiosk.bills.lookup(HOUSE)
    swiped = await swipe(kiosk, GOOD.track2)
    block = await enter_pin(kiosk, swiped, GOOD.pin)
    version = kiosk.link._key_version
    kiosk.link._keys = dataclasses.replace(kiosk.link._keys, mak=bytes(range(16)))   # not the front-end's
    with pytest.raises(HostUnavailable):
        await kiosk.payments.pay(bill, swiped, block)
    assert [e.state for e in kiosk.journal.recent()] == ["not_sent"] and host.totals() == before
    assert kiosk.link._key_version > version and not kiosk.payments.suspended
    _, outcome = await pay(kiosk, HOUSE, GOOD)
    assert outcome.approved


KILLED_KIOSK = textwrap.dedent("""
    import asyncio, dataclasses, sys
    sys.path[:0] = {paths!r}
    from tests.support.payments import enter_pin, GOOD, kiosk_settings, swipe
    from pathlib import Path
    from kiosk.bootstrap import build

    async def main():
        kiosk = build(kiosk_settings(Path({tmp!r}), {url!r}, timeout_s=60, bank_port={bank_port!r}),
                      with_fleet=False)
        await kiosk.start()
        bill = await kiosk.bills.lookup({house!r})
        swiped = await swipe(kiosk, GOOD.track2)
        block = await enter_pin(kiosk, swiped, GOOD.pin)
        print("READY", flush=True)
        sys.stdin.readline()                            # the test breaks the link, then says go
        await kiosk.payments.pay(bill, swiped, block)   # the reply never comes: killed first
    asyncio.run(main())
""")


async def test_kiosk_killed_after_sending_reverses_on_restart(tmp_path, host, link):
    before, balance = host.totals(), host.balance(GOOD.pan)
    link.set_mode(LinkMode.UP)
    here = os.path.dirname(__file__)
    script = KILLED_KIOSK.format(paths=[here, os.path.dirname(here)], tmp=str(tmp_path), url=link.url,
                                 house=HOUSE, bank_port=link.bank_port)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "READY"
        link.set_mode(LinkMode.DROP_REPLIES)   # the request gets through; its answer does not
        proc.stdin.write("go\n")
        proc.stdin.flush()
        await until(lambda: host.balance(GOOD.pan) != balance, 20)   # the bank has captured it
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # captured: the money moved at the bank; the property ledger learns only from a copy, none came
    assert host.bill(HOUSE)["total_due_fen"] > 0

    link.set_mode(LinkMode.UP)
    restarted = build(kiosk_settings(tmp_path, link.url, bank_port=link.bank_port), with_fleet=False)
    try:
        (entry,) = restarted.journal.in_state("intent")  # journaled before it was sent
        await restarted.start()                          # resolves it before serving
        await settled(restarted)
        assert restarted.journal.get(entry.txn_id).state == "reversed"
    finally:
        await restarted.aclose()
    assert host.balance(GOOD.pan) == balance and host.bill(HOUSE)["total_due_fen"] > 0
    money_is_conserved(before, host.totals())


async def test_restart_while_the_host_is_down_waits_then_reverses(tmp_path, host, link):
    """A kiosk restarted with a reversal pending and the host unreachable goes
    into service for look-ups, refuses payments, and reverses once the host is back."""
    before, balance = host.totals(), host.balance(GOOD.pan)
    first = build(kiosk_settings(tmp_path, link.url, bank_port=link.bank_port), with_fleet=False)
    await first.start()
    try:
        bill, swiped, block = await _prepared(first)
        link.set_mode(LinkMode.DROP_REPLIES)
        with pytest.raises(OutcomeUnknown):
            await first.payments.pay(bill, swiped, block)
        link.set_mode(LinkMode.DOWN)
    finally:
        await first.aclose()

    restarted = build(kiosk_settings(tmp_path, link.url, bank_port=link.bank_port), with_fleet=False)
    restarted.settler._first_backoff_s = 0.05
    try:
        await restarted.start()                       # must not fail with the host down
        assert restarted.payments.suspended and not restarted.session.signed_on
        with pytest.raises(PaymentsSuspended):
            await restarted.payments.read_card(1)
        link.set_mode(LinkMode.UP)
        await until(lambda: not restarted.payments.suspended)   # the background task, on its own
        await settled(restarted)
    finally:
        await restarted.aclose()
    assert host.balance(GOOD.pan) == balance
    money_is_conserved(before, host.totals())


async def test_restart_with_unsent_backup_copies_and_the_host_down(tmp_path, host, link):
    """Backup copies still in the outbox at start-up wait for the host (they used
    to crash the settling task when the kiosk had no working keys yet)."""
    first = build(kiosk_settings(tmp_path, link.url, bank_port=link.bank_port), with_fleet=False)
    await first.start()
    try:
        await first.settler.stop()                    # no background sending: the copy stays queued
        bill, swiped, block = await _prepared(first)
        link.http.set_mode(LinkMode.DOWN)             # the bank approves; the copy cannot go
        outcome = await first.payments.pay(bill, swiped, block)
        assert [t for t, _ in first.journal.unsent_backups()] == [outcome.txn_id]
        link.set_mode(LinkMode.DOWN)
    finally:
        await first.aclose()

    restarted = build(kiosk_settings(tmp_path, link.url, bank_port=link.bank_port), with_fleet=False)
    restarted.settler._first_backoff_s = 0.05
    try:
        await restarted.start()
        assert restarted.journal.unsent_backups() and not restarted.payments.suspended
        link.set_mode(LinkMode.UP)
        await until(lambda: not restarted.journal.unsent_backups())   # the background task, on its own
    finally:
        await restarted.aclose()
    assert [r[0] for r in host.query("SELECT txn_id FROM property_backups")] == [outcome.txn_id]
