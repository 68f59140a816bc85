"""Card tears (DESIGN §3, docs/cards.md §6): the card is pulled at every APDU
of load, unload and purchase, before the card processed it or after it applied
it but before its answer left. Whatever the moment, once the same card is
back (or presented again later, after the kiosk gave up waiting) the bank, the
cards and the property ledger add up to the same total as before, and each
side agrees with the others. Never a guess: the card's GET TRANSACTION PROVE
decides."""
from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from tests.support.payments import enter_pin, GOOD, settled, swipe
from tests.support.wallets import card, insert, LI, remove, world, ZHANG

from common.epurse import Wallet
from kiosk.domain.errors import CardFault, CardRemoved, CardTorn, NotTheSameCard
from common.money import Money

HOUSE = "2-1-601"
AMOUNT = Money(10_000)


@dataclass(frozen=True)
class Flow:
    name: str
    serial: str
    apdus: int            # APDUs the flow sends, the last one being the write
    bank_delta: int       # what the bank account gains when the flow completes (fen)


FLOWS = [
    Flow("load_ep", ZHANG.serial, 4, -AMOUNT.fen),     # select, app info, init, credit
    Flow("load_ed", ZHANG.serial, 5, -AMOUNT.fen),     # + verify PIN
    Flow("unload", ZHANG.serial, 5, AMOUNT.fen),       # select, app info, verify, init, unload
    Flow("purchase_ed", ZHANG.serial, 5, 0),           # select, app info, verify, init, debit
]
CASES = [(f, i, v) for f in FLOWS for i in range(f.apdus) for v in ("before", "after")]


async def run_flow(kiosk, flow: Flow) -> Callable[[], Awaitable[object]]:
    """Everything the resident does before the card is touched; returns the step
    that talks to the card."""
    view = await kiosk.wallet.present("contact")
    if flow.name.startswith("load"):
        swiped = await swipe(kiosk, GOOD.track2)
        block = await enter_pin(kiosk, swiped, GOOD.pin, checked_by="card_centre")
        wallet = Wallet.EP if flow.name == "load_ep" else Wallet.ED
        return lambda: kiosk.wallet.load(view, wallet, AMOUNT, swiped, block, card_pin=ZHANG.pin)
    if flow.name == "unload":
        swiped = await swipe(kiosk, GOOD.track2)
        return lambda: kiosk.wallet.unload(view, AMOUNT, ZHANG.pin, swiped)
    bill = await kiosk.bills.lookup(HOUSE)
    return lambda: kiosk.wallet.pay_bill(view, Wallet.ED, bill, card_pin=ZHANG.pin)


def pull_at(kiosk, serial: str, index: int, verdict: str) -> None:
    count = itertools.count()
    victim = card(kiosk, serial)

    def fault(apdu: bytes):
        if next(count) == index:
            victim.fault = None
            return verdict
        return None
    victim.fault = fault


def balances(host, kiosk, serial: str) -> tuple[int, int, int]:
    return (host.balance(GOOD.pan), card(kiosk, serial).balance(Wallet.ED) + card(kiosk, serial).balance(Wallet.EP),
            host.totals()["ledger_fen"] + host.totals()["wallet_ledger_fen"])


def check_outcome(before: tuple[int, int, int], after: tuple[int, int, int], flow: Flow, applied: bool) -> None:
    bank, on_card, ledger = (a - b for a, b in zip(after, before))
    if not applied:
        assert (bank, on_card, ledger) == (0, 0, 0)
    elif flow.name == "purchase_ed":
        assert bank == 0 and on_card < 0 and ledger == -on_card
    else:
        assert bank == flow.bank_delta and on_card == -flow.bank_delta and ledger == 0


@pytest.mark.parametrize("flow,index,verdict", CASES,
                         ids=[f"{f.name}-apdu{i}-{v}" for f, i, v in CASES])
async def test_pulled_card_with_the_same_card_put_back(wk, host, flow, index, verdict):
    await insert(wk, flow.serial)
    step = await run_flow(wk, flow)
    before_world, before = world(host, wk), balances(host, wk, flow.serial)
    pull_at(wk, flow.serial, index, verdict)
    write = index == flow.apdus - 1
    if not write:   # before the write nothing is owed: the card simply left
        with pytest.raises((CardRemoved, CardFault)):
            await step()
        applied = False
    else:
        with pytest.raises(CardTorn) as torn:
            await step()
        assert torn.value.serial == flow.serial and wk.wallet.torn is not None
        await remove(wk)
        await insert(wk, flow.serial)
        outcome = await wk.wallet.resume_torn("contact")
        applied = verdict == "after"
        assert outcome.approved is applied
        assert wk.wallet.torn is None
    await settled(wk)
    check_outcome(before, balances(host, wk, flow.serial), flow, applied)
    assert world(host, wk) == before_world
    assert not wk.payments.suspended


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
@pytest.mark.parametrize("verdict", ["before", "after"])
async def test_card_not_back_in_time_is_settled_when_next_presented(wk, host, flow, verdict):
    await insert(wk, flow.serial)
    step = await run_flow(wk, flow)
    before_world, before = world(host, wk), balances(host, wk, flow.serial)
    pull_at(wk, flow.serial, flow.apdus - 1, verdict)
    with pytest.raises(CardTorn):
        await step()
    await wk.wallet.abandon_torn()            # the resident walked away
    txn_id = wk.journal.recent(1)[0].txn_id
    assert wk.journal.get(txn_id).state == "left_pending"
    assert not wk.payments.suspended          # the card centre holds it, the kiosk goes on

    await remove(wk)
    await insert(wk, LI.serial, "contactless")   # someone else's card meanwhile: untouched
    await wk.wallet.present("contactless")
    await insert(wk, flow.serial)             # later, the same card is presented again
    view = await wk.wallet.present("contact")
    assert txn_id in view.resolved
    await settled(wk)
    check_outcome(before, balances(host, wk, flow.serial), flow, verdict == "after")
    assert world(host, wk) == before_world
    assert wk.journal.get(txn_id).state == ("completed" if verdict == "after" else "cancelled")


async def test_another_card_is_not_taken_for_the_torn_one(wk, host):
    flow = FLOWS[0]
    await insert(wk, flow.serial)
    step = await run_flow(wk, flow)
    before_world = world(host, wk)
    pull_at(wk, flow.serial, flow.apdus - 1, "after")
    with pytest.raises(CardTorn):
        await step()
    await remove(wk)
    await insert(wk, LI.serial)
    with pytest.raises(NotTheSameCard):
        await wk.wallet.resume_torn("contact")
    assert wk.wallet.torn is not None          # still waiting for the right one
    await remove(wk)
    await insert(wk, flow.serial)
    outcome = await wk.wallet.resume_torn("contact")
    assert outcome.approved and outcome.new_balance == ZHANG.ep_balance + AMOUNT
    await settled(wk)
    assert world(host, wk) == before_world
