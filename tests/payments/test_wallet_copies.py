"""Every IC wallet transaction ends with its kiosk's backup copy on the host,
holding the final result (DESIGN §3, docs/cards.md §6), whoever settled it: the
same kiosk when the card comes back to it later, or another kiosk, which the
first one learns from cards/status. Until the copy arrives, reconciliation says
so (backup_missing); a pending one is not asked for. Money is counted to the fen
(bank + cards + property ledger) and the books reconcile at the end."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests.support.payments import GOOD, pay, RunningHost, settled
from test_wallet_tears import AMOUNT, FLOWS, Flow, pull_at, run_flow
from tests.support.wallets import (card, insert, OTHER_KIOSK, OtherKiosk, remove,
                                   start_host_with_other_kiosk, world)

import kiosk.services.wallet_settling as wallet_settling
from host.console.reconciliation import reconcile
from kiosk.devices.sim.network import LinkMode
from kiosk.domain.errors import CardTorn

VERDICTS = ("before", "after")     # the card pulled before it applied the write, or after
CASES = [(f, v) for f in FLOWS for v in VERDICTS]
IDS = [f"{f.name}-{v}" for f, v in CASES]
PAYING_HOUSE = "3-2-1202"          # a bank card bill payment, for other traffic at the kiosk


@pytest.fixture
def host(tmp_path: Path, demo_db: Path, today: date) -> Iterator[RunningHost]:
    """The demo host with a second kiosk in its fleet (replaces paylib's)."""
    server = start_host_with_other_kiosk(tmp_path, demo_db, today)
    yield RunningHost(server.url, server.engine, server)
    server.bank.stop()
    if server.running:
        server.stop()
    server.engine.dispose()


@pytest.fixture
def kiosk_b(host: RunningHost) -> Iterator[OtherKiosk]:
    other = OtherKiosk(host.url)
    yield other
    other.close()


async def left_pending(kiosk: Any, flow: Flow, verdict: str) -> str:
    """The card pulled during the write and not brought back: the txn id."""
    await insert(kiosk, flow.serial)
    step = await run_flow(kiosk, flow)
    pull_at(kiosk, flow.serial, flow.apdus - 1, verdict)
    with pytest.raises(CardTorn):
        await step()
    await kiosk.wallet.abandon_torn()
    await remove(kiosk)
    txn_id = kiosk.journal.recent(1)[0].txn_id
    assert kiosk.journal.get(txn_id).state == "left_pending"
    return txn_id


def copy_of(host: RunningHost, txn_id: str) -> Any:
    rows = host.query("SELECT kiosk_id, result, amount_fen, reference, txn_json FROM property_backups"
                      " WHERE txn_id = :t", t=txn_id)
    return rows[0] if rows else None


def centre(host: RunningHost, txn_id: str) -> Any:
    return host.query("SELECT kind, state, amount_fen, reference, resolved_by FROM card_txns WHERE txn_id = :t",
                      t=txn_id)[0]


def wallet_differences(host: RunningHost, today: date) -> list[tuple[str, str, str, str]]:
    return [(d.kind, d.txn_id, d.kiosk_id, d.detail) for d in reconcile(host.engine, today, today).wallet.differences]


def check_copy(host: RunningHost, kiosk: Any, txn_id: str, flow: Flow, result: str, reference: str | None) -> None:
    copy = copy_of(host, txn_id)
    assert copy is not None, "no copy on the host"
    amount = AMOUNT.fen if flow.name != "purchase_ed" else 478_53      # a purchase pays 2-1-601's bill
    assert (copy.kiosk_id, copy.result, copy.amount_fen, copy.reference) == \
        (kiosk.settings.kiosk_id, result, amount, reference)
    assert kiosk.journal.get(txn_id).amount_fen == centre(host, txn_id).amount_fen == amount
    assert f'"card":"{flow.serial}"' in copy.txn_json and '"kind":"wallet_' in copy.txn_json
    assert kiosk.journal.unsent_backups() == []


@pytest.mark.parametrize("flow,verdict", CASES, ids=IDS)
async def test_settled_when_presented_again_at_the_same_kiosk(wk, host, today, flow, verdict):
    before = world(host, wk)
    txn_id = await left_pending(wk, flow, verdict)
    await settled(wk)
    assert copy_of(host, txn_id) is None                  # no copy while the outcome is not known
    assert wallet_differences(host, today) == []          # pending on its day: awaited, not a difference

    await insert(wk, flow.serial)
    assert txn_id in (await wk.wallet.present("contact")).resolved
    await settled(wk)
    result = "completed" if verdict == "after" else "cancelled"
    assert wk.journal.get(txn_id).state == centre(host, txn_id).state == result
    # the reference the kiosk holds: a load's from its authorise, a purchase's from its confirm
    ref = centre(host, txn_id).reference
    expected_ref = ref if flow.name.startswith("load") or (flow.name == "purchase_ed" and result == "completed") \
        else None
    check_copy(host, wk, txn_id, flow, result, expected_ref)
    assert world(host, wk) == before
    assert wallet_differences(host, today) == []


@pytest.mark.parametrize("flow,verdict", CASES, ids=IDS)
async def test_settled_at_another_kiosk_is_learnt_and_copied(wk, host, kiosk_b, today, flow, verdict):
    before = world(host, wk)
    txn_id = await left_pending(wk, flow, verdict)
    result = "completed" if verdict == "after" else "cancelled"
    assert kiosk_b.present(card(wk, flow.serial)) == {txn_id: result}
    row = centre(host, txn_id)
    assert (row.state, row.resolved_by) == (result, OTHER_KIOSK)
    assert world(host, wk) == before
    # the card centre has settled it; the kiosk that began it has not sent its copy yet
    assert wk.journal.get(txn_id).state == "left_pending" and copy_of(host, txn_id) is None
    assert wallet_differences(host, today) == [("backup_missing", txn_id, wk.settings.kiosk_id, "backlog")]

    assert await wk.wallet.settle_once()                  # its settler asks cards/status
    await settled(wk)
    entry = wk.journal.get(txn_id)
    assert entry.state == result and entry.detail["reference"] == row.reference
    check_copy(host, wk, txn_id, flow, result, row.reference)
    assert wallet_differences(host, today) == []
    assert world(host, wk) == before


async def test_other_traffic_at_the_kiosk_brings_the_copy(wk, host, kiosk_b, today):
    """The settling pass of the kiosk's next transaction asks too."""
    flow = FLOWS[0]
    txn_id = await left_pending(wk, flow, "after")
    assert kiosk_b.present(card(wk, flow.serial)) == {txn_id: "completed"}
    _, outcome = await pay(wk, PAYING_HOUSE, GOOD)
    assert outcome.approved
    await settled(wk)
    assert wk.journal.get(txn_id).state == "completed"
    check_copy(host, wk, txn_id, flow, "completed", centre(host, txn_id).reference)
    assert copy_of(host, outcome.txn_id).result == "approved"
    assert reconcile(host.engine, today, today).balanced


async def test_an_idle_kiosk_learns_by_itself(wk, host, kiosk_b, today, monkeypatch):
    """No other traffic at the kiosk: its settling task still passes now and then
    (IDLE_PASS_S) and asks."""
    monkeypatch.setattr(wallet_settling, "LEFT_PENDING_ASK_S", 0.0)
    wk.settler.IDLE_PASS_S = 0.2
    wk.settler.wake()                            # its current wait began with the minute
    flow = FLOWS[0]
    txn_id = await left_pending(wk, flow, "after")
    assert kiosk_b.present(card(wk, flow.serial)) == {txn_id: "completed"}
    for _ in range(100):                                  # nothing here wakes the settler
        if copy_of(host, txn_id) is not None:
            break
        await asyncio.sleep(0.05)
    assert wk.journal.get(txn_id).state == "completed"
    check_copy(host, wk, txn_id, flow, "completed", centre(host, txn_id).reference)
    assert wallet_differences(host, today) == []


async def test_asked_at_most_once_a_minute_and_not_while_the_host_is_down(wk, host, kiosk_b, link, today,
                                                                          monkeypatch):
    flow = FLOWS[0]
    txn_id = await left_pending(wk, flow, "before")
    asked: list[list[str]] = []
    real_status = wk.wallet.centre.status

    async def status(txn_ids: list[str]) -> list[dict[str, Any]]:
        asked.append(list(txn_ids))
        return await real_status(txn_ids)
    monkeypatch.setattr(wk.wallet.centre, "status", status)

    link.set_mode(LinkMode.DOWN)
    assert not await wk.wallet.settle_once()              # not known yet: the settler backs off
    assert await wk.wallet.settle_once()                  # and within the minute does not ask again
    assert asked == [[txn_id]]
    link.set_mode(LinkMode.UP)
    assert await wk.wallet.settle_once() and asked == [[txn_id]]
    assert wk.journal.get(txn_id).state == "left_pending"

    monkeypatch.setattr(wallet_settling, "LEFT_PENDING_ASK_S", 0.0)     # a minute later
    assert await wk.wallet.settle_once()                  # still authorised at the card centre: stays
    assert asked == [[txn_id]] * 2 and wk.journal.get(txn_id).state == "left_pending"
    assert kiosk_b.present(card(wk, flow.serial)) == {txn_id: "cancelled"}
    assert await wk.wallet.settle_once()
    await settled(wk)
    assert asked == [[txn_id]] * 3
    assert wk.journal.get(txn_id).state == "cancelled"
    check_copy(host, wk, txn_id, flow, "cancelled", centre(host, txn_id).reference)
    assert wallet_differences(host, today) == []


async def test_many_left_pending_are_asked_in_batches_and_unknown_ones_shown_to_staff(wk, host, today,
                                                                                      monkeypatch):
    """51 left pending that the card centre holds no record of (its database
    restored from an older backup, say): asked 50 then 1; each becomes
    cancelled with its copy, and reconciliation shows staff the gap."""
    ids = [f"{wk.settings.kiosk_id}-20261121103105-{i:06X}" for i in range(51)]
    for txn_id in ids:
        wk.journal.record_intent(txn_id, kind="wallet_load", house_no="", amount_fen=1_00, masked_pan="",
                                 detail={"serial": FLOWS[0].serial, "wallet": "EP", "at": "2026-11-21T10:31:05"})
        wk.journal.set_state(txn_id, "left_pending", reason="card not returned")
    asked: list[int] = []
    real_status = wk.wallet.centre.status

    async def status(txn_ids: list[str]) -> list[dict[str, Any]]:
        asked.append(len(txn_ids))
        return await real_status(txn_ids)
    monkeypatch.setattr(wk.wallet.centre, "status", status)
    before, centre_rows = host.totals(), host.query("SELECT COUNT(*) FROM card_txns")[0][0]

    assert await wk.settler.settle_once()   # under the settling lock: never beside the background pass
    await settled(wk)
    assert asked == [50, 1]
    for txn_id in ids:
        entry = wk.journal.get(txn_id)
        assert (entry.state, entry.detail["reason"]) == ("cancelled", "unknown to the card centre")
        assert copy_of(host, txn_id).result == "cancelled"
    # no cancel was sent (no late authorise can come): no tombstones, no money moved
    assert host.query("SELECT COUNT(*) FROM card_txns")[0][0] == centre_rows
    assert host.totals() == before
    found = reconcile(host.engine, today, today).wallet.differences
    assert sorted((d.kind, d.txn_id) for d in found) == [("unknown_to_card_centre", t) for t in ids]

