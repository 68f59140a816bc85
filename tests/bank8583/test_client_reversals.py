"""Reversals of the kiosk's 8583 client (BANK-8583.md §4): journaled before the
0200 leaves, the original STAN, reason 98 / A0 / 06, resent byte for byte
until the 0410 comes, nothing new sent meanwhile, and still owed after a
restart (the journal reopened: the reversal goes first)."""
from __future__ import annotations

from pathlib import Path

import pytest

from common.bank8583.fields import Field61
from common.clock import ManualClock
from kiosk.backend_client.bank8583.client import BankLink
from kiosk.domain.errors import BankNoReply, BankReversalPending
from kiosk.services.journal import Journal
from tests.support import bank_peer as peer
from tests.support.bank_peer import (
    Answer, BankPeer, bad_mac, cut, link_settings, other_stan, payment, set_stan, silent,
)

bank_peer, bank, clock, journal, loaded_keys = peer.bank_peer, peer.bank, peer.clock, peer.journal, peer.loaded_keys


@pytest.mark.parametrize(("answer", "reason"), [(silent, "98"), (cut, "98"), (other_stan, "98"), (bad_mac, "A0")],
                         ids=["timeout", "cut", "another STAN", "bad MAC"])
async def test_a_purchase_without_a_valid_reply_is_reversed(bank: BankLink, bank_peer: BankPeer, journal: Journal,
                                                            answer: Answer, reason: str) -> None:
    await bank.sign_on()
    bank_peer.script(answer)
    with pytest.raises(BankNoReply) as raised:
        await bank.pay(payment())
    assert raised.value.reason == reason
    [due] = journal.bank_reversals("due")
    assert (due.txn_id, due.reason) == ("T1", reason)
    assert await bank.reverse("T1", 120174, "") == "reversed"
    purchase, reversal = bank_peer.requests()[1], bank_peer.requests()[-1]
    assert reversal.mti == "0400" and reversal.fields[39] == reason
    assert reversal.fields[11] == purchase.fields[11]   # the original's STAN; no new one taken
    assert Field61.parse(str(reversal.fields[61])) == Field61("000001", str(purchase.fields[11]), "1205")
    assert all(n not in reversal.fields for n in (26, 35, 52, 53))
    assert journal.bank_reversals("armed", "due") == []
    assert journal.bank_debits("000001") == []


async def test_the_reversal_is_journaled_before_the_purchase_leaves(bank: BankLink, bank_peer: BankPeer,
                                                                    journal: Journal) -> None:
    await bank.sign_on()
    seen: list[list[str]] = []

    def look(p: BankPeer, request: peer.Parsed) -> bytes:
        seen.append([r.state for r in journal.bank_reversals("armed", "due")])
        return p.reply(request)
    bank_peer.script(look)
    assert (await bank.pay(payment()))["result"] == "approved"
    assert seen == [["armed"]]
    assert journal.bank_reversals("armed", "due") == []   # a definite answer: nothing to undo


async def test_nothing_new_is_sent_until_the_reversal_is_acknowledged_and_it_is_resent_byte_for_byte(
        bank: BankLink, bank_peer: BankPeer) -> None:
    await bank.sign_on()
    bank_peer.script(silent, cut, peer.decline("96"))
    with pytest.raises(BankNoReply):
        await bank.pay(payment())
    for _ in range(2):   # the 0400 is cut, then answered 96: still owed
        with pytest.raises(BankReversalPending):
            await bank.pay(payment("T2"))
    # the next purchase sends the reversal first, then itself
    assert (await bank.pay(payment("T3")))["result"] == "approved"
    mtis = [m.mti for m in bank_peer.requests()]
    assert mtis == ["0800", "0200", "0400", "0400", "0400", "0200"]
    reversals = [raw for raw in bank_peer.received if raw[13:15] == b"\x04\x00"]
    assert len(set(reversals)) == 1
    assert await bank.reverse("T1", 120174, "") == "already_reversed"


async def test_a_restart_with_a_reversal_owed_sends_it_first(tmp_path: Path, bank_peer: BankPeer,
                                                             clock: ManualClock) -> None:
    bank_peer.reset()
    path = tmp_path / "journal.db"
    first_journal = Journal(path, clock)
    first = BankLink(link_settings(bank_peer), first_journal, clock)
    await first.sign_on()
    bank_peer.script(silent, cut)
    with pytest.raises(BankNoReply):
        await first.pay(payment())
    with pytest.raises(BankReversalPending):
        await first.reverse("T1", 120174, "")
    stan = first_journal.bank_next_stan()
    await first.aclose()
    first_journal.close()

    journal = Journal(path, clock)   # the kiosk starts again: no keys in memory
    again = BankLink(link_settings(bank_peer), journal, clock)
    await again.sign_on()   # HostSession.start
    assert (await again.pay(payment("T2")))["result"] == "approved"   # reverses, then pays
    assert [m.mti for m in bank_peer.requests()] == ["0800", "0200", "0400", "0800", "0400", "0200"]
    assert bank_peer.received[4] == bank_peer.received[2]   # the same keys: the same bytes
    assert bank_peer.requests()[-1].fields[11] > stan       # the STAN survived the restart
    assert journal.bank_reversals("armed", "due") == []
    journal.close()


async def test_a_purchase_out_when_the_kiosk_stopped_is_reversed_with_98(tmp_path: Path, bank_peer: BankPeer,
                                                                          clock: ManualClock) -> None:
    bank_peer.reset()
    path = tmp_path / "journal.db"
    first_journal = Journal(path, clock)
    first = BankLink(link_settings(bank_peer), first_journal, clock)
    await first.sign_on()
    bank_peer.script(silent)
    with pytest.raises(BankNoReply):
        await first.pay(payment())
    # as if the kiosk died with the 0200 out: the reversal still armed
    first_journal.bank_set_reversal(first_journal.bank_reversals("due")[0].stan, "armed")
    first_journal.close()

    journal = Journal(path, clock)
    again = BankLink(link_settings(bank_peer), journal, clock)
    await again.sign_on()
    assert await again.reverse("T1", 120174, "kiosk restarted") == "reversed"
    assert bank_peer.requests()[-1].fields[39] == "98"
    journal.close()


async def test_the_stan_wraps_from_999999_to_000001(bank: BankLink, bank_peer: BankPeer, journal: Journal) -> None:
    await bank.sign_on()
    set_stan(journal, 999998)
    await bank.echo()
    await bank.echo()
    assert [m.fields[11] for m in bank_peer.requests()[1:]] == ["999999", "000001"]


async def test_an_approved_purchase_the_kiosk_lost_is_reversed_from_its_debit(
        bank: BankLink, bank_peer: BankPeer, journal: Journal) -> None:
    """The 0210 came (the armed reversal dropped, the debit recorded) but the
    kiosk's own journal never heard: `reverse` rebuilds the 0400 from the
    debit, byte for byte what the armed one would have been, reason 06, and
    takes the debit out of the batch's totals."""
    await bank.sign_on()
    assert (await bank.pay(payment()))["result"] == "approved"
    assert journal.bank_reversals("armed", "due", "done") == []
    [debit] = journal.bank_debits("000001")
    assert await bank.reverse("T1", 120174, "") == "reversed"
    purchase, reversal = bank_peer.requests()[1], bank_peer.requests()[-1]
    assert reversal.mti == "0400" and reversal.fields[39] == "06"
    expected = {n: str(v) for n, v in purchase.fields.items() if n in (3, 4, 11, 22, 25, 41, 42, 49, 60)}
    assert {n: str(reversal.fields[n]) for n in expected} == expected
    assert Field61.parse(str(reversal.fields[61])) == Field61("000001", debit.stan, debit.date)
    assert journal.bank_debits("000001") == []
    assert await bank.reverse("T1", 120174, "") == "already_reversed"
    assert await bank.reverse("T2", 120174, "") == "not_found"
