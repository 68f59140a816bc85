"""Our terminal (kiosk/cards/epurse.py) against our card (kiosk/devices/sim/
cpu_card.py) with nothing in between, the card centre's part played with the
shared MAC functions and the demo issuer keys: every flow of docs/cards.md §2
must close, and each side's MACs must verify on the other."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from kiosk.cards.epurse import EPurse
from common.epurse_issuer import (DEMO_ISSUER_KEYS, load_mac1, load_mac2, load_tac, online_session_key,
                                  purchase_mac1, purchase_mac2, purchase_sk, purchase_tac, unload_mac3)
from common.epurse import bcd_when, TxnType, Wallet
from kiosk.devices.sim.cpu_card import VirtualCpuCard
from kiosk.domain.errors import CardMacInvalid, CardPinWrong, WalletInsufficient, WalletLimitExceeded

SERIAL = "00002601000000000042"
TERM = bytes.fromhex("000000000007")
WHEN = datetime(2026, 11, 21, 9, 30, 15)


class Direct:
    """The card's APDU handler as the transport."""

    def __init__(self, card: VirtualCpuCard) -> None:
        self.card = card

    def transmit(self, apdu: bytes) -> bytes:
        return self.card.process(apdu)


@pytest.fixture
def card(tmp_path) -> VirtualCpuCard:
    return VirtualCpuCard.create(tmp_path, serial=SERIAL, holder="测试", pin="123456",
                                 ed_balance=50_000, ep_balance=1_000, issued=date(2026, 12, 31))


@pytest.fixture
def purse(card) -> EPurse:
    purse = EPurse(Direct(card))
    purse.select()
    return purse


KEYS = DEMO_ISSUER_KEYS.for_card(bytes.fromhex(SERIAL))


def test_load_closes_and_the_tac_verifies_at_the_card_centre(purse, card):
    assert purse.read_app_info().serial_hex == SERIAL
    init = purse.init_load(Wallet.EP, 2_000, TERM)
    sk = online_session_key(KEYS.dlk, init.random, init.counter)
    assert init.mac1 == load_mac1(sk, 1_000, 2_000, TxnType.EP_LOAD, TERM)     # the centre accepts the card
    tac = purse.credit_load(WHEN, load_mac2(sk, 2_000, TxnType.EP_LOAD, TERM, bcd_when(WHEN)))
    assert tac == load_tac(KEYS.dtk, 3_000, init.counter, 2_000, TxnType.EP_LOAD, TERM, bcd_when(WHEN))
    assert purse.get_balance(Wallet.EP) == card.balance(Wallet.EP) == 3_000
    assert purse.transaction_proof(TxnType.EP_LOAD, init.counter) == (
        load_mac2(sk, 2_000, TxnType.EP_LOAD, TERM, bcd_when(WHEN)), tac)
    record = purse.read_log()[0]
    assert (record.amount, record.txn_type, record.term_id, record.when) == (2_000, TxnType.EP_LOAD, TERM, WHEN)


def test_a_wrong_mac2_is_refused_and_nothing_is_applied(purse, card):
    init = purse.init_load(Wallet.EP, 2_000, TERM)
    with pytest.raises(CardMacInvalid):
        purse.credit_load(WHEN, bytes(4))
    assert card.balance(Wallet.EP) == 1_000
    assert purse.transaction_proof(TxnType.EP_LOAD, init.counter) is None


def test_purse_maximum_and_insufficient_balance(purse):
    with pytest.raises(WalletLimitExceeded):
        purse.init_load(Wallet.EP, 100_000, TERM)
    with pytest.raises(WalletInsufficient):
        purse.init_purchase(Wallet.EP, 1_001, TERM)


def test_purchase_closes_with_the_centres_mac1(purse, card):
    purse.verify_pin("123456")
    init = purse.init_purchase(Wallet.ED, 12_345, TERM)
    sk = purchase_sk(KEYS.dpk, init.random, init.counter, 77)
    mac1 = purchase_mac1(sk, 12_345, TxnType.ED_PURCHASE, TERM, bcd_when(WHEN))
    tac, mac2 = purse.debit_purchase(77, WHEN, mac1)
    assert mac2 == purchase_mac2(sk, 12_345)
    assert tac == purchase_tac(KEYS.dtk, 12_345, TxnType.ED_PURCHASE, TERM, 77, bcd_when(WHEN))
    assert card.balance(Wallet.ED) == 50_000 - 12_345
    assert purse.transaction_proof(TxnType.ED_PURCHASE, init.counter) == (mac2, tac)


def test_unload_closes_with_mac3(purse, card):
    purse.verify_pin("123456")
    init = purse.init_unload(5_000, TERM)
    sk = online_session_key(KEYS.duk, init.random, init.counter)
    assert init.mac1 == load_mac1(sk, 50_000, 5_000, TxnType.UNLOAD, TERM)
    mac3 = purse.unload(WHEN, load_mac2(sk, 5_000, TxnType.UNLOAD, TERM, bcd_when(WHEN)))
    assert mac3 == unload_mac3(sk, 45_000, init.counter, 5_000, TERM, bcd_when(WHEN))
    assert card.balance(Wallet.ED) == 45_000


def test_change_pin_then_the_new_pin_opens_the_passbook(purse, card):
    purse.change_pin("123456", "654321")
    with pytest.raises(CardPinWrong) as wrong:
        purse.verify_pin("123456")
    assert wrong.value.tries_left == 2
    purse.verify_pin("654321")
    assert card.pin_tries_left == 3
