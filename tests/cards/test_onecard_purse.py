"""The one-card's tear-safe purse (kiosk/cards/mifare_purse.py) against the
virtual MIFARE Classic 1K in this process: the example debit's 25 APDUs byte
for byte, a tear at each of them (and during the recovery) ending at the old or
the new balance and nothing else, credits with key B, the 3-byte ceiling and
the cards that must go to staff. The same transcript through pcscd is in
test_onecard_pcsc.py."""
from __future__ import annotations

import itertools

import pytest

from common.onecard import MAX_AMOUNT, KeyType, TxnType
from common.onecard_blocks import PublicInfo, Record, decode_value, encode_value, read_public_info
from common.onecard_keys import IssuerKeyProvider
from kiosk.cards.mifare import MifareClassic
from kiosk.cards.mifare_purse import OneCardPurse, Outcome, Step
from kiosk.devices.sim.m1_card import VirtualM1Card
from kiosk.domain.errors import (CardAuthRefused, CardBlacklisted, CardKeyMissing, CardRemoved, CardTorn,
                                 OneCardNeedsStaff, WalletInsufficient, WalletLimitExceeded)
from common.onecard import SessionKeys
from tests.support.onecard import DEBIT_TRANSCRIPT, TERMINAL, UID, WHEN, Direct, example_card, pull_at

OTHER_TERMINAL = bytes.fromhex("0000000000AB")


def purse_for(card: VirtualM1Card, steps: list[tuple[Step, int]] | None = None) -> tuple[OneCardPurse, Direct]:
    transport = Direct(card)
    hook = None if steps is None else (lambda uid, step, amount: steps.append((step, amount)))
    return OneCardPurse(MifareClassic(transport), IssuerKeyProvider(), on_step=hook), transport


def state(card: VirtualM1Card) -> tuple[int, int, PublicInfo]:
    purse, backup = decode_value(card.block(8))[0], decode_value(card.block(9))[0]
    info, rewrite = read_public_info(card.block(24), card.block(25))
    assert not rewrite
    return purse, backup, info


def test_the_example_debit_is_the_contracts_transcript() -> None:
    card = example_card()
    steps: list[tuple[Step, int]] = []
    purse, transport = purse_for(card, steps)
    presented = purse.present(TERMINAL, WHEN)
    assert (presented.balance, presented.recovery) == (12345, None)
    result = purse.debit(presented, 5000, TxnType.BILL_PAYMENT, TERMINAL, WHEN)
    assert transport.log == DEBIT_TRANSCRIPT
    assert (result.outcome, result.balance_before, result.balance_after, result.count) == (
        Outcome.APPLIED, 12345, 7345, 17)
    assert card.block(9).hex().upper() == "B11C00004EE3FFFFB11C000008F708F7"
    assert card.block(24).hex().upper() == "03001102000000000000000000000010"
    assert card.block(25).hex().upper() == "FCFFEEFDFFFFFFFFFFFFFFFFFFFFFFEF"
    assert steps == [(Step.UID, 0), (Step.READ_PUBLIC_INFO, 0), (Step.READ_PURSE, 0)] + [
        (s, 5000) for s in (Step.MARK_PENDING, Step.VALUE_OP, Step.BACKUP, Step.RECORD, Step.FINISH)]


def assert_old_or_new(card: VirtualM1Card) -> bool:
    """The card is consistent at 12345 (count 16, pointer 2) or at 7345 with
    its record (count 17, pointer 3); True if the debit applied."""
    purse, backup, info = state(card)
    assert purse == backup
    assert (info.flag, info.pending_type, info.pending_amount, info.balance_before) == (0x02, 0, 0, 0)
    if purse == 12345:
        assert (info.count, info.pointer) == (16, 2)
        return False
    assert purse == 7345 and (info.count, info.pointer) == (17, 3)
    record = Record.decode(card.block(16))
    assert (record.seq, record.txn_type, record.amount, record.balance_after) == (17, 0x05, 5000, 7345)
    return True


def recover(card: VirtualM1Card) -> None:
    purse, _ = purse_for(card)
    presented = purse.present(OTHER_TERMINAL, WHEN)
    assert not presented.refused, presented.recovery
    applied = assert_old_or_new(card)
    if presented.recovery is not None:
        assert presented.recovery.outcome in (Outcome.RECOVERED_APPLIED, Outcome.RECOVERED_NOT_APPLIED)
        assert (presented.recovery.outcome is Outcome.RECOVERED_APPLIED) == applied
    assert presented.balance == (7345 if applied else 12345)


@pytest.mark.parametrize("applied", [True, False], ids=["after", "before"])
@pytest.mark.parametrize("at", range(len(DEBIT_TRANSCRIPT)))
def test_a_tear_at_any_apdu_then_recovery_gives_the_old_or_the_new_balance(at: int, applied: bool) -> None:
    card = example_card()
    purse, transport = purse_for(card)
    pull_at(card, at, applied=applied)
    with pytest.raises((CardRemoved, CardTorn)) as raised:
        purse.debit(purse.present(TERMINAL, WHEN), 5000, TxnType.BILL_PAYMENT, TERMINAL, WHEN)
    assert isinstance(raised.value, CardTorn) == (at >= 9)        # once step 3 has begun
    recover(card)
    # the recovered card takes the next operation normally
    again, _ = purse_for(card)
    presented = again.present(TERMINAL, WHEN)
    assert presented.recovery is None
    again.credit(presented, 100, TxnType.LOAD, TERMINAL, WHEN)


@pytest.mark.parametrize("at", range(11, len(DEBIT_TRANSCRIPT)))
def test_a_tear_during_the_recovery_too_still_ends_old_or_new(at: int) -> None:
    for second, applied in itertools.product(range(12), (True, False)):
        card = example_card()
        purse, _ = purse_for(card)
        pull_at(card, at, applied=True)
        with pytest.raises(CardTorn):
            purse.debit(purse.present(TERMINAL, WHEN), 5000, TxnType.BILL_PAYMENT, TERMINAL, WHEN)
        recovering, _ = purse_for(card)
        pull_at(card, second, applied=applied)
        try:
            recovering.present(OTHER_TERMINAL, WHEN)
        except (CardRemoved, CardTorn):
            pass
        card.fault = None
        recover(card)


def test_a_recovered_record_takes_the_recovering_kiosks_terminal() -> None:
    card = example_card()
    purse, _ = purse_for(card)
    pull_at(card, 18, applied=False)      # before the record is written
    with pytest.raises(CardTorn):
        purse.debit(purse.present(TERMINAL, WHEN), 5000, TxnType.BILL_PAYMENT, TERMINAL, WHEN)
    again, _ = purse_for(card)
    presented = again.present(OTHER_TERMINAL, WHEN)
    assert presented.recovery is not None and presented.recovery.outcome is Outcome.RECOVERED_APPLIED
    assert (presented.recovery.balance_before, presented.recovery.balance_after) == (12345, 7345)
    assert Record.decode(card.block(16)).terminal == bytes.fromhex("0000AB")


def test_a_credit_uses_key_b_for_the_increment() -> None:
    card = example_card()
    purse, transport = purse_for(card)
    result = purse.credit(purse.present(TERMINAL, WHEN), 2000, TxnType.LOAD, TERMINAL, WHEN)
    assert (result.balance_after, state(card)[0]) == (14345, 14345)
    step4 = transport.log[13:17]
    assert step4[0][0] == "FF82000006" + "91CCC4008095"        # sector 2 key B
    assert step4[1][0] == "FF8600000501000861" "00"            # authenticate with key B
    assert step4[2][0] == "FFD70008050100000" "7D0"             # increment 2000
    assert Record.decode(card.block(16)).txn_type == TxnType.LOAD


def test_the_3_byte_ceiling() -> None:
    card = example_card(balance=MAX_AMOUNT - 10)
    purse, transport = purse_for(card)
    presented = purse.present(TERMINAL, WHEN)
    with pytest.raises(WalletLimitExceeded):
        purse.credit(presented, 11, TxnType.TRANSFER_IN, TERMINAL, WHEN)
    assert len(transport.log) == 9                  # steps 0–2 only: nothing written
    assert purse.credit(presented, 10, TxnType.TRANSFER_IN, TERMINAL, WHEN).balance_after == MAX_AMOUNT
    with pytest.raises(ValueError):
        purse.debit(purse.present(TERMINAL, WHEN), MAX_AMOUNT + 1, TxnType.TRANSFER_OUT, TERMINAL, WHEN)


def test_a_purse_above_the_ceiling_is_refused_to_staff() -> None:
    card = example_card()
    card.set_block(8, encode_value(MAX_AMOUNT + 1, 8))
    card.set_block(9, encode_value(MAX_AMOUNT + 1, 8))
    purse, _ = purse_for(card)
    presented = purse.present(TERMINAL, WHEN)
    assert presented.refused and presented.recovery is not None and "outside" in presented.recovery.reason
    with pytest.raises(OneCardNeedsStaff):
        purse.debit(presented, 1, TxnType.BILL_PAYMENT, TERMINAL, WHEN)


def test_insufficient_balance_writes_nothing() -> None:
    card = example_card()
    purse, transport = purse_for(card)
    with pytest.raises(WalletInsufficient):
        purse.debit(purse.present(TERMINAL, WHEN), 12346, TxnType.BILL_PAYMENT, TERMINAL, WHEN)
    assert not any(cmd.startswith(("FFD6", "FFD7")) for cmd, _ in transport.log)


def test_a_black_flagged_card_recovers_but_starts_nothing_new() -> None:
    card = example_card(black=0x04)
    purse, _ = purse_for(card)
    pull_at(card, 20, applied=True)
    with pytest.raises(CardBlacklisted):
        purse.debit(purse.present(TERMINAL, WHEN), 5000, TxnType.BILL_PAYMENT, TERMINAL, WHEN)
    card.fault = None
    # the same, torn mid-way: a card black-flagged later (by hand here) still recovers
    card = example_card()
    purse, _ = purse_for(card)
    pull_at(card, 20, applied=True)
    with pytest.raises(CardTorn):
        purse.debit(purse.present(TERMINAL, WHEN), 5000, TxnType.BILL_PAYMENT, TERMINAL, WHEN)
    torn = read_public_info(card.block(24), card.block(25))[0]
    b24, b25 = PublicInfo(torn.pointer, torn.count, torn.flag, 0x04, torn.pending_type, torn.pending_amount,
                          torn.balance_before).blocks()
    card.set_block(24, b24)
    card.set_block(25, b25)
    again, _ = purse_for(card)
    presented = again.present(TERMINAL, WHEN)
    assert presented.recovery is not None and presented.recovery.outcome is Outcome.RECOVERED_APPLIED
    assert presented.blacklisted
    with pytest.raises(CardBlacklisted):
        again.credit(presented, 1, TxnType.LOAD, TERMINAL, WHEN)


def test_a_malformed_purse_copy_is_restored_from_the_other() -> None:
    card = example_card()
    card.set_block(9, bytes(16))
    purse, transport = purse_for(card)
    presented = purse.present(TERMINAL, WHEN)
    assert (presented.balance, presented.recovery) == (12345, None)
    assert ("FFD70008020309", "9000") in transport.log
    assert card.block(9) == card.block(8)


@pytest.mark.parametrize(("blocks", "reason"), [
    ({9: encode_value(100, 8)}, "differ"),                                     # copies differ, flag done
    ({8: bytes(16), 9: bytes(16)}, "both purse copies"),
    ({24: bytes(16), 25: bytes(16)}, "public info"),
    (dict(zip((24, 25), PublicInfo(2, 16, 0x03).blocks())), "process flag 03"),
    (dict(zip((24, 25), PublicInfo(2, 16, 0x01, 0, 5, 5000, 20000).blocks())), "neither"),   # purse no rule explains
    ({**dict(zip((24, 25), PublicInfo(2, 16, 0x01, 0, 5, 5000, 12345).blocks())),
      9: encode_value(7345, 8)}, "backup"),                                    # flag 01, purse = before, backup not
])
def test_cards_that_go_to_staff(blocks: dict[int, bytes], reason: str) -> None:
    card = example_card()
    for n, data in blocks.items():
        card.set_block(n, data)
    purse, transport = purse_for(card)
    presented = purse.present(TERMINAL, WHEN)
    assert presented.refused and presented.recovery is not None
    assert reason in presented.recovery.reason
    assert not any(cmd.startswith(("FFD6", "FFD7")) and cmd != "FFD70008020309" for cmd, _ in transport.log)
    with pytest.raises(OneCardNeedsStaff):
        purse.credit(presented, 1, TxnType.LOAD, TERMINAL, WHEN)


def test_keys_of_another_card_are_refused_and_a_missing_key_is_typed() -> None:
    card = example_card()
    wrong = OneCardPurse(MifareClassic(Direct(card)), SessionKeys(UID, {}))
    with pytest.raises(CardKeyMissing):
        wrong.present(TERMINAL, WHEN)
    other = IssuerKeyProvider()
    swapped = OneCardPurse(MifareClassic(Direct(card)),
                           SessionKeys(UID, {6: other.sector_keys(bytes.fromhex("01020304"), 6)}))
    with pytest.raises(CardAuthRefused):
        swapped.present(TERMINAL, WHEN)
    assert KeyType.A == 0x60
