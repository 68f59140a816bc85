"""Reversals over real HTTP on loopback: a captured payment is undone exactly
(balance, bills, ledger); a reversal of nothing leaves a tombstone; every
reversal is idempotent."""
from __future__ import annotations

from sqlalchemy import select

from host.billing import unpaid_periods
from host.schema.bank import bank_journal, property_ledger
from tests.support.host_env import BankEnv, check_invariants, GOOD
import pytest
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL


def test_reversal_after_approval_restores_everything(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    start, balance, bill = bank.totals(), bank.account(GOOD.pan).balance_fen, bank.bill("3-2-1202")
    paid = kiosk.pay("T-1", "3-2-1202", bill["total_due_fen"], unpaid_periods(bill), GOOD).json
    assert paid["result"] == "approved"
    middle = bank.totals()
    check_invariants(start, middle)

    reply = kiosk.reverse("T-1", bill["total_due_fen"], "reply MAC did not verify")
    assert reply.status == 200 and reply.mac_ok and reply.json == {"txn_id": "T-1", "status": "reversed"}
    assert bank.account(GOOD.pan).balance_fen == balance
    assert bank.bill("3-2-1202") == bill                  # the same bill, late fees included
    end = bank.totals()
    check_invariants(middle, end)
    assert end == start
    with bank.engine.connect() as conn:
        lines = conn.execute(select(bank_journal.c.type, bank_journal.c.result, bank_journal.c.amount_fen,
                                    bank_journal.c.reference, bank_journal.c.code)
                             .order_by(bank_journal.c.id)).all()
        ledger = conn.execute(select(property_ledger.c.kind, property_ledger.c.amount_fen,
                                     property_ledger.c.late_fee_fen).order_by(property_ledger.c.id)).all()
    assert lines == [("sale", "approved", 126931, paid["reference"], None),
                     ("reversal", "reversed", 126931, paid["reference"], "reply MAC did not verify")]
    assert ledger == [("payment", 126931, 1534), ("reversal", -126931, -1534)]

    state = bank.dump()
    again = kiosk.reverse("T-1", bill["total_due_fen"])
    assert again.json == {"txn_id": "T-1", "status": "already_reversed"}
    late = kiosk.pay("T-1", "3-2-1202", bill["total_due_fen"], unpaid_periods(bill), GOOD)
    assert late.json == {"txn_id": "T-1", "result": "declined", "code": "reversed", "tries_left": None}
    after = bank.dump()
    assert {k: v for k, v in after.items() if k != "kiosks"} == {k: v for k, v in state.items() if k != "kiosks"}

    # the household can pay again, with a new transaction
    assert kiosk.pay("T-2", "3-2-1202", bill["total_due_fen"], unpaid_periods(bill), GOOD).json["result"] \
        == "approved"
    check_invariants(start, bank.totals())


def test_reversal_of_unknown_txn_leaves_a_tombstone(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    start, bill = bank.totals(), bank.bill("2-1-601")
    reply = kiosk.reverse("T-LOST", bill["total_due_fen"], "timeout")
    assert reply.status == 200 and reply.mac_ok and reply.json == {"txn_id": "T-LOST", "status": "not_found"}
    assert kiosk.reverse("T-LOST", bill["total_due_fen"]).json["status"] == "not_found"   # idempotent
    # the payment arrives late (it was stuck somewhere): refused, nothing moves
    late = kiosk.pay("T-LOST", "2-1-601", bill["total_due_fen"], unpaid_periods(bill), GOOD)
    assert late.status == 200 and late.mac_ok
    assert late.json == {"txn_id": "T-LOST", "result": "declined", "code": "reversed", "tries_left": None}
    assert bank.totals() == start and bank.bill("2-1-601") == bill
    with bank.engine.connect() as conn:
        lines = conn.execute(select(bank_journal.c.type, bank_journal.c.result)).all()
    assert lines == [("reversal", "not_found")]


def test_reversal_of_a_declined_payment_is_not_found(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    start, bill = bank.totals(), bank.bill("2-1-601")
    assert kiosk.pay("T-D", "2-1-601", bill["total_due_fen"], ["2026-10"], GOOD, pin="000000").json["code"] \
        == "wrong_pin"
    assert kiosk.reverse("T-D", bill["total_due_fen"]).json["status"] == "not_found"
    assert kiosk.pay("T-D", "2-1-601", bill["total_due_fen"], ["2026-10"], GOOD).json["code"] == "reversed"
    assert bank.totals() == start


def test_reversal_amount_must_be_the_captured_one(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    bill = bank.bill("2-1-601")
    assert kiosk.pay("T-A", "2-1-601", bill["total_due_fen"], ["2026-10"], GOOD).json["result"] == "approved"
    before = bank.dump()
    wrong = kiosk.reverse("T-A", bill["total_due_fen"] + 1)
    assert wrong.status == 400 and wrong.mac_ok and bank.dump() == before
    assert kiosk.reverse("T-A", bill["total_due_fen"]).json["status"] == "reversed"
