"""Transfers in the host (docs/cards.md "Transfers"): one transfer, two legs,
the source's debit proven first, then the destination's credit; refusals
(same card, limits, amount); a debit never applied cancels, a credit not
applied stays owed and is made at the card's next presentation; the one-card's
own presentation finishing a torn leg carries the transfer with it. Every
scenario ends with the cards plus the credits owed adding up to the fen."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from common.epurse import Wallet
from host.schema.cards import ic_cards
from kiosk.domain.errors import CardTorn
from tests.support.card_centre import CHEN, LI, ZHANG, SimCard
from tests.support.databases import BACKENDS
from tests.support.onecard import pull_at
from tests.support.onecard_host import BLACK, FUNDED, OneCardEnv, purse, virtual
from tests.support.transfers import TransferKiosk, cpu, held, in_flight, onecard, transfer_row

BOTH = pytest.mark.backends(*BACKENDS)


def _cpu_mirror(env: OneCardEnv, serial: str) -> tuple[int, int]:
    with env.engine.connect() as conn:
        found = conn.execute(select(ic_cards.c.ed_fen, ic_cards.c.ep_fen).where(ic_cards.c.serial == serial)).one()
    return int(found.ed_fen), int(found.ep_fen)


@BOTH
def test_cpu_to_cpu_one_transfer_two_legs(onecard_env: OneCardEnv) -> None:
    k, zhang, li = TransferKiosk(onecard_env), SimCard.of(ZHANG), SimCard.of(LI)
    before, zhang_mirror, li_mirror = held(onecard_env, [zhang, li], []), _cpu_mirror(onecard_env, zhang.serial), \
        _cpu_mirror(onecard_env, li.serial)
    auth = k.from_cpu("XF-1", zhang, Wallet.EP, 1_000, cpu(li))
    assert auth.status == 200 and auth.mac_ok and auth.json["result"] == "approved", auth.body
    assert auth.json["reference"].startswith("T") and auth.json["leg_txn_id"] == "XF-1:D"
    assert k.debit_cpu("XF-1", zhang, auth).json == {"txn_id": "XF-1", "status": "debited"}
    assert in_flight(onecard_env) == 1_000 and held(onecard_env, [zhang, li], []) == before
    credit = k.credit_cpu("XF-1", li, Wallet.EP, 1_000)
    assert credit.json["result"] == "approved" and credit.json["leg_txn_id"] == "XF-1:C1", credit.body
    assert k.confirm_cpu("XF-1", li, credit).json == {"txn_id": "XF-1", "status": "completed"}
    assert (zhang.ep, li.ep) == (ZHANG.ep_balance.fen - 1_000, LI.ep_balance.fen + 1_000)
    assert held(onecard_env, [zhang, li], []) == before and in_flight(onecard_env) == 0
    assert _cpu_mirror(onecard_env, zhang.serial) == (zhang_mirror[0], zhang_mirror[1] - 1_000)
    assert _cpu_mirror(onecard_env, li.serial) == (li_mirror[0], li_mirror[1] + 1_000)
    row, legs = transfer_row(onecard_env, "XF-1")
    assert row.state == "completed" and [(leg.leg, leg.state, leg.txn_type) for leg in legs] == [
        ("debit", "completed", 0x06), ("credit", "completed", 0x02)]
    # a repeat of each message answers the same, moving nothing again
    assert k.post("debit", {"txn_id": "XF-1"}).json["status"] == "completed"
    assert k.post("confirm", {"txn_id": "XF-1"}).json["status"] == "completed"
    assert held(onecard_env, [zhang, li], []) == before


@BOTH
def test_cpu_to_onecard_and_back(onecard_env: OneCardEnv) -> None:
    k, zhang, card = TransferKiosk(onecard_env), SimCard.of(ZHANG), virtual(FUNDED)
    before = held(onecard_env, [zhang], [card])
    auth = k.from_cpu("XF-2", zhang, Wallet.EP, 2_500, onecard(card))
    assert k.debit_cpu("XF-2", zhang, auth).json["status"] == "debited"
    _, p, purse_ = onecard_env.onecard.present(card)
    credit = k.figures("credit", "XF-2", p.balance or 0, p.info.count if p.info else 0)
    assert credit.json["result"] == "approved" and "keys" in credit.json, credit.body
    result = k.write_onecard(purse_, p, credit, True, 2_500)
    done = k.figures("confirm", "XF-2", result.balance_after, result.count)
    assert done.json == {"txn_id": "XF-2", "status": "completed"}, done.body
    assert purse(card) == FUNDED.balance_fen + 2_500 and held(onecard_env, [zhang], [card]) == before
    assert onecard_env.card_row(FUNDED.uid).balance_fen == FUNDED.balance_fen + 2_500
    assert onecard_env.txn("XF-2:C1").kind == "xfer_in" and onecard_env.txn("XF-2:C1").state == "completed"

    # and back: one-card → CPU, record type 08 on the card
    auth, p, purse_ = k.from_onecard("XF-3", card, 2_000, cpu(zhang))
    assert auth.json["result"] == "approved", auth.body
    result = k.write_onecard(purse_, p, auth, False, 2_000)
    assert k.figures("debit", "XF-3", result.balance_after, result.count).json["status"] == "debited"
    credit = k.credit_cpu("XF-3", zhang, Wallet.EP, 2_000)
    assert k.confirm_cpu("XF-3", zhang, credit).json["status"] == "completed"
    assert held(onecard_env, [zhang], [card]) == before and in_flight(onecard_env) == 0
    assert onecard_env.card_row(FUNDED.uid).balance_fen == FUNDED.balance_fen + 500


def test_refusals_same_card_limits_and_bad_amounts(onecard_env: OneCardEnv) -> None:
    k, zhang, li, card = TransferKiosk(onecard_env), SimCard.of(ZHANG), SimCard.of(LI), virtual(FUNDED)
    same = k.from_cpu("XF-S", zhang, Wallet.EP, 100, cpu(zhang, Wallet.ED))
    assert same.json["result"] == "declined" and same.json["code"] == "same_card"
    limits = onecard_env.settings.transfer
    over = k.from_cpu("XF-L", zhang, Wallet.ED, limits.per_transfer_fen + 1, cpu(li))
    assert over.json["code"] == "transfer_limit"
    assert k.from_cpu("XF-0", zhang, Wallet.EP, 0, cpu(li)).status == 400            # amount > 0
    assert k.from_cpu("XF-N", zhang, Wallet.EP, 100, {"dst_kind": "cpu", "dst_card": "XYZ"}).status == 400
    short = k.from_cpu("XF-I", zhang, Wallet.EP, zhang.ep + 1, cpu(li))
    assert short.json["code"] == "insufficient_funds"
    black = k.from_cpu("XF-B", zhang, Wallet.EP, 100, onecard(virtual(BLACK)))
    assert black.json["code"] == "card_blacklisted"
    # per card per day: two transfers that fit, the third goes over
    chen = SimCard.of(CHEN)
    for n in range(2):
        auth = k.from_cpu(f"XF-D{n}", chen, Wallet.ED, limits.per_transfer_fen, onecard(card))
        assert auth.json["result"] == "approved", auth.body
        assert k.post("cancel", {"txn_id": f"XF-D{n}"}).json["status"] == "cancelled" if n else True
    # a cancelled one does not count against the day
    auth = k.from_cpu("XF-D2", chen, Wallet.ED, limits.per_transfer_fen, onecard(card))
    assert auth.json["result"] == "approved"
    third = k.from_cpu("XF-D3", chen, Wallet.ED, limits.per_card_day_fen - 2 * limits.per_transfer_fen + 1,
                       onecard(card))
    assert third.json["code"] == "daily_limit"


@BOTH
def test_a_debit_never_applied_cancels_and_nothing_moves(onecard_env: OneCardEnv) -> None:
    k, zhang, li = TransferKiosk(onecard_env), SimCard.of(ZHANG), SimCard.of(LI)
    before = held(onecard_env, [zhang, li], [])
    k.from_cpu("XF-C", zhang, Wallet.EP, 700, cpu(li))
    assert k.post("cancel", {"txn_id": "XF-C", "reason": "card pulled"}).json["status"] == "cancelled"
    assert k.post("cancel", {"txn_id": "XF-C"}).json["status"] == "already_cancelled"
    assert k.post("debit", {"txn_id": "XF-C", "tac": "00" * 4, "mac2": "00" * 4}).status == 400
    assert held(onecard_env, [zhang, li], []) == before and in_flight(onecard_env) == 0
    # a cancel before its authorise leaves a tombstone
    assert k.post("cancel", {"txn_id": "XF-T"}).json["status"] == "not_found"
    assert k.from_cpu("XF-T", zhang, Wallet.EP, 100, cpu(li)).json["code"] == "cancelled"


def test_a_forged_debit_proof_is_refused_and_stays_pending(onecard_env: OneCardEnv) -> None:
    k, zhang, li = TransferKiosk(onecard_env), SimCard.of(ZHANG), SimCard.of(LI)
    k.from_cpu("XF-F", zhang, Wallet.EP, 300, cpu(li))
    assert k.post("debit", {"txn_id": "XF-F", "tac": "11" * 4, "mac2": "22" * 4}).status == 400
    assert transfer_row(onecard_env, "XF-F")[0].state == "authorised"
    assert k.credit_cpu("XF-F", li, Wallet.EP, 300).json["code"] == "transfer_authorised"


@BOTH
def test_a_credit_not_applied_stays_owed_and_is_made_at_the_next_presentation(onecard_env: OneCardEnv) -> None:
    k, zhang, card = TransferKiosk(onecard_env), SimCard.of(ZHANG), virtual(FUNDED)
    before = held(onecard_env, [zhang], [card])
    auth = k.from_cpu("XF-O", zhang, Wallet.EP, 900, onecard(card))
    k.debit_cpu("XF-O", zhang, auth)
    _, p, _ = onecard_env.onecard.present(card)
    assert k.figures("credit", "XF-O", p.balance or 0, p.info.count if p.info else 0).json["result"] == "approved"
    # the card left before step 3: the one-card's presentation (any kiosk) finds it untouched → cancel
    reply, p, purse_ = onecard_env.onecard.present(card)
    assert reply.json["finish"]["action"] == "cancel" and reply.json["finish"]["kind"] == "xfer_in"
    assert onecard_env.onecard.cancel("XF-O:C1").json["status"] == "cancelled"
    owed = k.post("owed", {"card_kind": "onecard", "card": FUNDED.uid}).json["owed"]
    assert [(o["txn_id"], o["role"], o["amount_fen"]) for o in owed] == [("XF-O", "credit", 900)]
    assert in_flight(onecard_env) == 900 and held(onecard_env, [zhang], [card]) == before
    # a give-up cancel of the transfer now only confirms the credit is owed
    assert k.post("cancel", {"txn_id": "XF-O"}).json["status"] == "credit_owed"
    credit = k.figures("credit", "XF-O", p.balance or 0, p.info.count if p.info else 0)
    assert credit.json["leg_txn_id"] == "XF-O:C2"
    result = k.write_onecard(purse_, p, credit, True, 900)
    assert k.figures("confirm", "XF-O", result.balance_after, result.count).json["status"] == "completed"
    assert held(onecard_env, [zhang], [card]) == before and in_flight(onecard_env) == 0
    assert k.post("owed", {"card_kind": "onecard", "card": FUNDED.uid}).json["owed"] == []


@BOTH
def test_a_torn_onecard_debit_is_finished_by_its_presentation(onecard_env: OneCardEnv) -> None:
    """The one-card's own presentation confirms the torn leg (its figures prove
    it); the transfer follows and its credit is owed."""
    k, li, card = TransferKiosk(onecard_env), SimCard.of(LI), virtual(FUNDED)
    before = held(onecard_env, [li], [card])
    auth, p, purse_ = k.from_onecard("XF-P", card, 1_200, cpu(li))
    pull_at(card, 8, applied=True)           # after the decrement: the card holds the debit
    with pytest.raises(CardTorn):
        k.write_onecard(purse_, p, auth, False, 1_200)
    reply, p, _ = onecard_env.onecard.present(card)
    assert reply.json["finish"] == {"txn_id": "XF-P:D", "kind": "xfer_out", "action": "confirm",
                                    "amount_fen": 1_200}
    assert onecard_env.onecard.confirm("XF-P:D", FUNDED.uid, p.balance or 0, p.info.count if p.info else 0) \
        .json["status"] == "completed"
    owed = k.post("owed", {"card_kind": "cpu", "card": li.serial}).json["owed"]
    assert [(o["txn_id"], o["role"]) for o in owed] == [("XF-P", "credit")]
    assert held(onecard_env, [li], [card]) == before and in_flight(onecard_env) == 1_200
    credit = k.credit_cpu("XF-P", li, Wallet.EP, 1_200)
    assert k.confirm_cpu("XF-P", li, credit).json["status"] == "completed"
    assert held(onecard_env, [li], [card]) == before
