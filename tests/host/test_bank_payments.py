"""Card payments over real HTTP on loopback: approval moves exactly the bill's
total from the card to the property ledger in one transaction; every decline
code; idempotency on txn_id; money adds up to the fen before and after."""
from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select

from host.bank.security import encode
from host.billing import unpaid_periods
from host.schema.bank import bank_journal, bank_txns, property_ledger
from host.schema.estate import bills, households
from tests.support.host_env import BankEnv, BLOCKED, check_invariants, EXPIRED, GOOD, LIMITED, LOW, SEED_TODAY
from common.crypto import pin_block_format0, tdes_encrypt
from common.bank_card import mask_pan
import pytest
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL

DAY = SEED_TODAY.isoformat()   # the host's business day: declines carry it too


def _pay(bank: BankEnv, txn_id: str, house: str, card: Any, pin: str | None = None,
         amount: int | None = None) -> dict[str, Any]:
    bill = bank.bill(house)
    reply = bank.kiosk.pay(txn_id, house, bill["total_due_fen"] if amount is None else amount,
                           unpaid_periods(bill), card, pin)
    assert reply.status == 200, reply.body
    assert reply.mac_ok
    return reply.json


def test_approved_payment_moves_exactly_the_total(bank: BankEnv) -> None:
    bank.kiosk.sign_on()
    before, balance = bank.totals(), bank.account(GOOD.pan).balance_fen
    bill = bank.bill("3-2-1202")
    assert bill["total_due_fen"] == 126931 and unpaid_periods(bill) == ["2026-08", "2026-09", "2026-10"]

    reply = _pay(bank, "KIOSK-TEST-01-20261121-000001", "3-2-1202", GOOD)
    assert reply["result"] == "approved" and reply["txn_id"] == "KIOSK-TEST-01-20261121-000001"
    assert reply["amount_fen"] == 126931 and reply["business_day"] == "2026-11-21"
    assert len(reply["reference"]) == 12 and reply["reference"].isdigit()
    assert len(reply["auth_code"]) == 6 and reply["auth_code"].isdigit()
    assert list(reply) == ["txn_id", "result", "reference", "auth_code", "business_day", "amount_fen"]

    assert bank.account(GOOD.pan).balance_fen == balance - 126931
    after_bill = bank.bill("3-2-1202")
    assert after_bill["total_due_fen"] == 0 and after_bill["arrears"] == [] and after_bill["current"]["paid"]
    with bank.engine.connect() as conn:
        paid = conn.execute(select(bills.c.period, bills.c.amount_fen, bills.c.paid_ref).join(households)
                            .where(households.c.house_no == "3-2-1202").order_by(bills.c.period)).all()
        journal = conn.execute(select(bank_journal)).all()
        ledger = conn.execute(select(property_ledger)).all()
    assert [(p, ref) for p, _, ref in paid] == [(p, reply["reference"]) for p in ("2026-08", "2026-09", "2026-10")]
    assert len(journal) == 1 and len(ledger) == 1
    line, entry = journal[0], ledger[0]
    assert (line.type, line.result, line.amount_fen, line.reference, line.auth_code, line.masked_pan) == \
        ("sale", "approved", 126931, reply["reference"], reply["auth_code"], "622202*********0017")
    assert (entry.kind, entry.amount_fen, entry.late_fee_fen, entry.periods, entry.reference) == \
        ("payment", 126931, 1119 + 415, "2026-08,2026-09,2026-10", reply["reference"])
    assert sum(a for _, a, _ in paid) + entry.late_fee_fen == entry.amount_fen

    after = bank.totals()
    check_invariants(before, after)
    assert after["bank_balances_fen"] == before["bank_balances_fen"] - 126931
    assert after["journal_net_fen"] - before["journal_net_fen"] == 126931
    assert after["bills_paid_fen"] - before["bills_paid_fen"] == 126931 - 1534


def test_pin_block_from_the_pin_pad_is_accepted(bank: BankEnv) -> None:
    """Known-answer style: the PIN pad's format 0 block for PIN 123456 and the
    card's PAN, 3DES-encrypted under the PIK from sign-on, is what the host opens."""
    kiosk = bank.kiosk
    kiosk.sign_on()
    clear = pin_block_format0("123456", GOOD.pan)
    # PIN field 06123456FFFFFFFF xor PAN field 0000100000000001 (the 12 digits before the check digit)
    assert clear.hex().upper() == "06122456FFFFFFFE"
    fields = kiosk.payment_fields("T-KAT", "2-1-601", bank.bill("2-1-601")["total_due_fen"], ["2026-10"], GOOD)
    fields["pin_block"] = tdes_encrypt(kiosk.pik, clear).hex()
    reply = kiosk.post("/api/v1/bank/payments", fields)
    assert reply.json["result"] == "approved"


def test_wrong_pin_then_right_pin(bank: BankEnv) -> None:
    bank.kiosk.sign_on()
    before = bank.totals()
    wrong = _pay(bank, "T-W1", "2-1-601", GOOD, pin="999999")
    assert wrong == {"txn_id": "T-W1", "result": "declined", "code": "wrong_pin", "tries_left": 2, "business_day": DAY}
    assert bank.account(GOOD.pan).pin_tries == 1
    wrong = _pay(bank, "T-W2", "2-1-601", GOOD, pin="123457")
    assert wrong["code"] == "wrong_pin" and wrong["tries_left"] == 1
    assert bank.totals() == before
    right = _pay(bank, "T-W3", "2-1-601", GOOD)
    assert right["result"] == "approved"
    assert bank.account(GOOD.pan).pin_tries == 0               # a right PIN resets the count
    assert _pay(bank, "T-W4", "2-2-902", GOOD, pin="000000")["tries_left"] == 2
    check_invariants(before, bank.totals())


def test_three_wrong_pins_lock_the_card(bank: BankEnv) -> None:
    bank.kiosk.sign_on()
    before = bank.totals()
    codes = [(_pay(bank, f"T-L{i}", "2-1-601", GOOD, pin="654321")) for i in range(3)]
    assert [(c["code"], c["tries_left"]) for c in codes] == [("wrong_pin", 2), ("wrong_pin", 1), ("pin_locked", 0)]
    locked = _pay(bank, "T-L3", "2-1-601", GOOD)               # the right PIN no longer helps
    assert locked == {"txn_id": "T-L3", "result": "declined", "code": "pin_locked", "tries_left": 0, "business_day": DAY}
    assert bank.account(GOOD.pan).pin_tries == 3
    assert bank.totals() == before and bank.bill("2-1-601")["total_due_fen"] > 0


def test_garbage_pin_block_counts_as_a_wrong_pin(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    fields = kiosk.payment_fields("T-G", "2-1-601", bank.bill("2-1-601")["total_due_fen"], ["2026-10"], GOOD)
    fields["pin_block"] = "00" * 8
    assert kiosk.post("/api/v1/bank/payments", fields).json["code"] == "wrong_pin"


def test_card_declines(bank: BankEnv) -> None:
    bank.kiosk.sign_on()
    before, snapshot = bank.totals(), {pan: bank.account(pan).balance_fen for pan in (LOW.pan, EXPIRED.pan)}
    assert _pay(bank, "T-D1", "2-1-601", LOW)["code"] == "insufficient_funds"          # ¥50.00 < ¥478.53
    assert _pay(bank, "T-D2", "2-1-601", EXPIRED) == \
        {"txn_id": "T-D2", "result": "declined", "code": "expired_card", "tries_left": None, "business_day": DAY}
    assert _pay(bank, "T-D3", "2-1-601", BLOCKED)["code"] == "card_blocked"
    assert _pay(bank, "T-D4", "2-1-601", BLOCKED, pin="000000")["code"] == "card_blocked"   # before the PIN
    assert bank.account(BLOCKED.pan).pin_tries == 0
    assert bank.totals() == before
    assert {pan: bank.account(pan).balance_fen for pan in snapshot} == snapshot


def test_unknown_card(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    stranger = dataclasses.replace(GOOD, name="stranger", pan="4111111111111111", pin="1234")
    reply = _pay(bank, "T-U", "2-1-601", stranger)
    assert reply["code"] == "unknown_card"
    with bank.engine.connect() as conn:
        assert conn.execute(select(bank_journal.c.masked_pan)).scalar() == "411111******1111"


def test_daily_limit_counts_the_days_payments(bank: BankEnv) -> None:
    bank.kiosk.sign_on()
    before = bank.totals()
    assert _pay(bank, "T-DL1", "3-2-1202", LIMITED)["code"] == "daily_limit"          # ¥1,269.31 > ¥500
    assert _pay(bank, "T-DL2", "2-1-601", LIMITED)["result"] == "approved"             # ¥478.53 fits
    assert bank.bill("2-2-902")["total_due_fen"] > 500_00 - 478_53
    assert _pay(bank, "T-DL3", "2-2-902", LIMITED)["code"] == "daily_limit"           # not any more today
    check_invariants(before, bank.totals())


def test_bill_changed_and_nothing_due(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    before = bank.totals()
    bill = bank.bill("3-2-1202")
    off_by_one = kiosk.pay("T-B1", "3-2-1202", bill["total_due_fen"] - 1, unpaid_periods(bill), GOOD)
    assert off_by_one.json["code"] == "bill_changed"
    fewer = kiosk.pay("T-B2", "3-2-1202", bill["total_due_fen"], ["2026-09", "2026-10"], GOOD)
    assert fewer.json["code"] == "bill_changed"
    assert kiosk.pay("T-B3", "1-1-101", 100, ["2026-10"], GOOD).json["code"] == "nothing_due"
    assert bank.totals() == before
    # someone paid at the office meanwhile: the kiosk's amount is stale
    with bank.engine.begin() as conn:
        hid = conn.execute(select(households.c.id).where(households.c.house_no == "2-2-902")).scalar()
        conn.execute(bills.update().where(bills.c.household_id == hid, bills.c.period == "2026-09")
                     .values(paid_at=bills.c.issued_on, paid_ref="OFFICE-1"))
    stale = kiosk.pay("T-B4", "2-2-902", 68351, ["2026-09", "2026-10"], GOOD)
    assert stale.json["code"] == "bill_changed"


def test_repeat_returns_the_first_answer_and_never_debits_twice(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    before, balance = bank.totals(), bank.account(GOOD.pan).balance_fen
    first = kiosk.pay("T-I1", "2-2-902", 68351, ["2026-09", "2026-10"], GOOD)
    assert first.json["result"] == "approved"
    state = bank.dump()
    again = kiosk.pay("T-I1", "2-2-902", 68351, ["2026-09", "2026-10"], GOOD)     # new counter, same txn
    assert again.status == 200 and again.body == first.body and again.mac_ok
    # even a repeat whose details drifted (the bill is paid now) gets the first answer
    drifted = kiosk.pay("T-I1", "2-2-902", 1, ["2026-10"], GOOD, pin="000000")
    assert drifted.body == first.body
    after = bank.dump()
    assert after["kiosks"] != state["kiosks"]                     # only the counter moved
    assert {k: v for k, v in after.items() if k != "kiosks"} == {k: v for k, v in state.items() if k != "kiosks"}
    assert bank.account(GOOD.pan).balance_fen == balance - 68351
    declined = kiosk.pay("T-I2", "2-1-601", 47853, ["2026-10"], GOOD, pin="111111")
    assert kiosk.pay("T-I2", "2-1-601", 47853, ["2026-10"], GOOD).body == declined.body   # declines too
    check_invariants(before, bank.totals())


def test_a_txn_id_belongs_to_its_kiosk(bank: BankEnv) -> None:
    from tests.support.host_env import OTHER_KIOSK, OTHER_TMK
    bank.kiosk.sign_on()
    assert _pay(bank, "T-K1", "2-1-601", GOOD)["result"] == "approved"
    other = bank.signer(OTHER_KIOSK, OTHER_TMK)
    try:
        other.sign_on()
        reply = other.pay("T-K1", "2-1-601", 47853, ["2026-10"], GOOD)
        assert reply.status == 400 and reply.mac_ok
    finally:
        other.close()


def test_unknown_house_is_a_bad_request(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    assert kiosk.pay("T-H", "99-9-909", 100, ["2026-10"], GOOD).status == 400


def test_the_full_pan_stays_in_the_accounts_table(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    _pay(bank, "T-P1", "3-2-1202", GOOD)
    _pay(bank, "T-P2", "2-1-601", GOOD, pin="000000")
    _pay(bank, "T-P3", "2-1-601", EXPIRED)
    kiosk.reverse("T-P1", 126931)
    kiosk.backup({"txn_id": "T-P1", "masked_pan": mask_pan(GOOD.pan), "result": "reversed"})
    for table, rows in bank.dump().items():
        if table == "bank_accounts":
            continue
        text = repr(rows)
        for card in (GOOD, EXPIRED):
            assert card.pan not in text and card.pan[:-1] not in text, table
    account = bank.account(GOOD.pan)
    assert GOOD.pin not in tuple(account) and len(account.pin_offset) == len(GOOD.pin)  # an offset, never the PIN
    with bank.engine.connect() as conn:
        assert conn.execute(select(bank_txns.c.masked_pan).where(bank_txns.c.txn_id == "T-P1")).scalar() \
            == mask_pan(GOOD.pan)


def test_reply_bytes_are_compact_json() -> None:
    assert encode({"a": 1, "b": "翠"}) == '{"a":1,"b":"翠"}'.encode()
