"""The kiosk killed between the bank's approval (0210) and its own journal
update: the link had dropped its armed reversal and recorded the debit, so
the restart reverses the purchase from that debit for real (it used to
answer `not_found`, and the kiosk marked reversed a payment the bank kept)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from kiosk.bootstrap import build
from tests.support.payments import GOOD, kiosk_settings, money_is_conserved, settled

HOUSE = "3-2-1202"

KILLED_AFTER_APPROVAL = textwrap.dedent("""
    import asyncio, os, signal, sys
    sys.path[:0] = {paths!r}
    from tests.support.payments import GOOD, kiosk_settings, pay
    from pathlib import Path
    from kiosk.bootstrap import build

    async def main():
        kiosk = build(kiosk_settings(Path({tmp!r}), {url!r}, timeout_s=30, bank_port={bank_port!r}),
                      with_fleet=False)
        await kiosk.start()
        set_state = kiosk.journal.set_state

        def crash_on_approval(txn_id, state, **detail):
            if state == "approved":   # the 0210 is in; the journal never hears of it
                os.kill(os.getpid(), signal.SIGKILL)
            return set_state(txn_id, state, **detail)

        kiosk.journal.set_state = crash_on_approval
        await pay(kiosk, {house!r}, GOOD)
    asyncio.run(main())
""")


async def test_kiosk_killed_between_the_approval_and_its_journal_reverses_it_on_restart(tmp_path, host, link):
    before, balance, due = host.totals(), host.balance(GOOD.pan), host.bill(HOUSE)["total_due_fen"]
    here = os.path.dirname(__file__)
    script = KILLED_AFTER_APPROVAL.format(paths=[here, os.path.dirname(here)], tmp=str(tmp_path), url=link.url,
                                          house=HOUSE, bank_port=link.bank_port)
    proc = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # the bank approved and debited it; the kiosk's journal still says "intent"
    (approved,) = host.query("SELECT stan, amount_fen FROM bank_link_journal WHERE kind = 'purchase'"
                             " AND state = 'approved'")
    assert host.balance(GOOD.pan) == balance - approved.amount_fen == balance - due

    restarted = build(kiosk_settings(tmp_path, link.url, bank_port=link.bank_port), with_fleet=False)
    restarted.settler._first_backoff_s = 0.05
    try:
        (entry,) = restarted.journal.in_state("intent")
        assert restarted.journal.bank_debit_of(entry.txn_id) is not None   # the link kept the approved debit
        await restarted.start()
        await settled(restarted)
        assert restarted.journal.get(entry.txn_id).state == "reversed"
        assert restarted.journal.get(entry.txn_id).detail["reversal"] == "reversed"   # sent, not "not_found"
        batch = restarted.journal.bank_batch()
        assert restarted.journal.bank_debits(batch) == []   # out of the batch's totals
        settlement = await restarted.link.settle()          # and the bank agrees, to the fen
        assert settlement.balanced and settlement.totals.debit_count == 0
    finally:
        await restarted.aclose()
    (row,) = host.query("SELECT state, reversal_code FROM bank_link_journal WHERE stan = :s", s=approved.stan)
    assert tuple(row) == ("reversed", "06")
    assert host.balance(GOOD.pan) == balance                 # every fen back on the card
    assert host.bill(HOUSE)["total_due_fen"] == due          # and the bill still due
    after = host.totals()
    money_is_conserved(before, after)
    assert after["bank_balances_fen"] == before["bank_balances_fen"]
