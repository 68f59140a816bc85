"""Paying the household bill from the wallet through the real SecureChannel:
the bill checked exactly as a bank-card payment checks it, a MAC1 the card
accepts, and on a TAC and MAC2 that verify the bills paid, the property ledger
written and the mirror moved. While a purchase is authorised the household's
bill is reserved: payment_pending for a bank card and for another wallet."""
from __future__ import annotations

from sqlalchemy import select

from tests.support.card_centre import CardEnv, CardRefused, check_money, CHEN, hex_, LI, LIU, SimCard, WHEN
from tests.support.card_centre import cards_fixture  # noqa: F401  (the `cards` fixture)
from host.billing import unpaid_periods
from host.schema.bank import property_ledger
from host.schema.estate import bills, households
from common.epurse_issuer import DEMO_ISSUER_KEYS
from common.epurse import Wallet
import pytest
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL


def _authorise(cards: CardEnv, txn_id: str, card: SimCard, wallet: Wallet, house: str,
               amount: int | None = None, periods: list[str] | None = None) -> tuple[dict[str, object], int]:
    bill = cards.bill(house)
    reply, txn_no = cards.cards.purchase_authorise(
        txn_id, card, wallet, house, unpaid_periods(bill) if periods is None else periods,
        bill["total_due_fen"] if amount is None else amount)
    assert reply.status == 200 and reply.mac_ok, reply.body
    return reply.json, txn_no


def test_a_wallet_pays_the_bill(cards: CardEnv) -> None:
    card = SimCard.of(LI)
    before, bill = cards.totals(), cards.bill("2-2-902")
    assert bill["total_due_fen"] == 683_51 and unpaid_periods(bill) == ["2026-09", "2026-10"]
    answer, txn_no = _authorise(cards, "W-1", card, Wallet.ED, "2-2-902")
    assert list(answer) == ["txn_id", "result", "mac1"] and answer["result"] == "approved"
    assert cards.totals() == before and cards.bill("2-2-902") == bill     # nothing paid before the card's proof

    tac, mac2 = card.debit_purchase(txn_no, WHEN, bytes.fromhex(str(answer["mac1"])))   # the card accepts MAC1
    done = cards.cards.post("purchase/confirm", {"txn_id": "W-1", "tac": hex_(tac), "mac2": hex_(mac2)})
    assert done.status == 200 and done.mac_ok
    reference = done.json["reference"]
    assert done.json == {"txn_id": "W-1", "status": "completed", "reference": reference}
    assert reference.startswith("W261121") and len(reference) == 12

    assert cards.bill("2-2-902")["total_due_fen"] == 0
    assert cards.mirror(LI.serial) == (card.ed, card.ep) == (LI.ed_balance.fen - 683_51, LI.ep_balance.fen)
    with cards.engine.connect() as conn:
        paid = conn.execute(select(bills.c.period, bills.c.paid_ref).join(households)
                            .where(households.c.house_no == "2-2-902").order_by(bills.c.period)).all()
        ledger = conn.execute(select(property_ledger)).one()
    assert [(p, ref) for p, ref in paid if p in ("2026-09", "2026-10")] == \
        [("2026-09", reference), ("2026-10", reference)]
    assert (ledger.txn_id, ledger.kind, ledger.amount_fen, ledger.periods, ledger.reference) == \
        ("W-1", "wallet", 683_51, "2026-09,2026-10", reference)
    assert ledger.late_fee_fen == bill["late_fee_fen"] > 0
    after = cards.totals()
    check_money(before, after)
    assert after["wallet_ledger_fen"] - before["wallet_ledger_fen"] == 683_51 == \
        before["cards_fen"] - after["cards_fen"]
    assert after["bills_paid_by_wallet_fen"] == 683_51 - bill["late_fee_fen"]
    assert after["bank_balances_fen"] == before["bank_balances_fen"]
    # a repeat of the confirm gets the same answer; nothing is paid twice
    again = cards.cards.post("purchase/confirm", {"txn_id": "W-1", "tac": hex_(tac), "mac2": hex_(mac2)})
    assert again.body == done.body and cards.totals() == after


def test_an_ep_purchase(cards: CardEnv) -> None:
    card = SimCard.of(CHEN)
    before = cards.totals()
    answer, txn_no = _authorise(cards, "W-EP", card, Wallet.EP, "2-1-601")
    tac, mac2 = card.debit_purchase(txn_no, WHEN, bytes.fromhex(str(answer["mac1"])))
    assert cards.cards.post("purchase/confirm", {"txn_id": "W-EP", "tac": hex_(tac), "mac2": hex_(mac2)}) \
        .json["status"] == "completed"
    assert cards.txn("W-EP").txn_type == 0x06
    assert cards.mirror(CHEN.serial)[1] == card.ep == CHEN.ep_balance.fen - 478_53
    check_money(before, cards.totals())


def test_mac1_is_for_this_card_only(cards: CardEnv) -> None:
    """A card of other issuer keys refuses the host's MAC1 (the host signs with its config keys)."""
    stranger_keys = SimCard.of(LI, DEMO_ISSUER_KEYS)
    answer, txn_no = _authorise(cards, "W-K", stranger_keys, Wallet.ED, "2-2-902")
    try:
        stranger_keys.debit_purchase(txn_no, WHEN, bytes.fromhex(str(answer["mac1"])))
    except CardRefused:
        pass
    else:
        raise AssertionError("a card personalised with other keys accepted the MAC1")


def test_the_bill_is_checked_as_a_bank_payment_checks_it(cards: CardEnv) -> None:
    card = SimCard.of(LI)
    before = cards.totals()
    bill = cards.bill("2-2-902")
    assert _authorise(cards, "WB-1", card, Wallet.ED, "2-2-902", amount=bill["total_due_fen"] - 1)[0]["code"] == \
        "bill_changed"
    assert _authorise(cards, "WB-2", card, Wallet.ED, "2-2-902", periods=["2026-10"])[0]["code"] == "bill_changed"
    assert _authorise(cards, "WB-3", card, Wallet.ED, "1-1-101", amount=100, periods=["2026-10"])[0] == \
        {"txn_id": "WB-3", "result": "declined", "code": "nothing_due", "tries_left": None}
    listed = SimCard(LIU.serial, 1000_00, 0)          # enough on it: the status alone declines it
    assert _authorise(cards, "WB-4", listed, Wallet.ED, "2-1-601")[0]["code"] == "card_blacklisted"
    stranger = SimCard("0000260100000000ABCD", 100_000, 100_000)
    assert _authorise(cards, "WB-5", stranger, Wallet.ED, "2-1-601")[0]["code"] == "unknown_ic_card"
    unknown_house = cards.cards.purchase_authorise("WB-6", card, Wallet.ED, "99-9-909", ["2026-10"], 100)[0]
    assert unknown_house.status == 400 and unknown_house.mac_ok
    assert cards.totals() == before


def test_payment_pending_while_a_purchase_is_authorised(cards: CardEnv) -> None:
    li, chen = SimCard.of(LI), SimCard.of(CHEN)
    before, bill = cards.totals(), cards.bill("2-1-601")
    assert _authorise(cards, "WP-1", chen, Wallet.EP, "2-1-601")[0]["result"] == "approved"
    # the same bill from another wallet must wait (a bank card's payment is the bank's
    # business: the kiosk's bill look-up holds it back, docs/bank-link.md)
    assert _authorise(cards, "WP-2", li, Wallet.ED, "2-1-601")[0]["code"] == "payment_pending"
    # another household is not held up
    assert _authorise(cards, "WP-3", li, Wallet.ED, "2-2-902")[0]["result"] == "approved"
    assert cards.totals() == before

    assert cards.cards.cancel("purchase", "WP-1").json == {"txn_id": "WP-1", "status": "cancelled"}
    assert cards.cards.cancel("purchase", "WP-1").json["status"] == "already_cancelled"
    assert cards.totals() == before and cards.bill("2-1-601") == bill
    assert _authorise(cards, "WP-4", li, Wallet.ED, "2-1-601")[0]["result"] == "approved"   # free again
    check_money(before, cards.totals())


def test_proofs_that_do_not_verify_leave_the_purchase_pending(cards: CardEnv) -> None:
    card = SimCard.of(LI)
    before = cards.totals()
    answer, txn_no = _authorise(cards, "WT-1", card, Wallet.ED, "2-2-902")
    tac, mac2 = card.debit_purchase(txn_no, WHEN, bytes.fromhex(str(answer["mac1"])))
    state = cards.dump()
    for wrong in ({"tac": hex_(bytes(4)), "mac2": hex_(mac2)}, {"tac": hex_(tac), "mac2": hex_(bytes(4))}):
        refused = cards.cards.post("purchase/confirm", {"txn_id": "WT-1", **wrong})
        assert refused.status == 400 and refused.mac_ok and "stays pending" in refused.json["message"]
    assert cards.dump() == state and cards.txn("WT-1").state == "authorised"
    assert _authorise(cards, "WT-2", SimCard.of(CHEN), Wallet.EP, "2-2-902")[0]["code"] == "payment_pending"
    assert cards.cards.post("purchase/confirm", {"txn_id": "WT-1", "tac": hex_(tac), "mac2": hex_(mac2)}) \
        .json["status"] == "completed"
    assert cards.cards.cancel("purchase", "WT-1").status == 400          # completed: no cancel
    check_money(before, cards.totals())


def test_a_purchase_cancelled_before_it_was_seen(cards: CardEnv) -> None:
    before = cards.totals()
    assert cards.cards.cancel("purchase", "WX-1").json == {"txn_id": "WX-1", "status": "not_found"}
    late = _authorise(cards, "WX-1", SimCard.of(LI), Wallet.ED, "2-2-902")[0]
    assert late == {"txn_id": "WX-1", "result": "declined", "code": "cancelled", "tries_left": None}
    assert cards.totals() == before
    # the tombstone holds no bill: another purchase of it goes through
    assert _authorise(cards, "WX-2", SimCard.of(LI), Wallet.ED, "2-2-902")[0]["result"] == "approved"
