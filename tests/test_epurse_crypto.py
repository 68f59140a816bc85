"""Known-answer tests for the e-purse crypto of DESIGN §5 (demo issuer keys).

The expected values were computed independently with the OpenSSL command line
(`openssl enc -des-ede` for 3DES ECB, `-des-cbc` with a zero IV for the MACs,
padding 80 00.. written out by hand), not with the code under test.
Card: application serial 0000 2601000000000001 (diversified by its last 8 bytes)."""
from common.crypto import diversify, load_session_key, mac_pboc, purchase_session_key

DLK = bytes.fromhex("52CA0DE0E5BD568172E8F3580DE35BEA")
DPK = bytes.fromhex("1D36BF1CDFC3B17CBA524C9D8C7C1DB9")
DTK = bytes.fromhex("EDC4AB99FF27EFACEDCC0743D7F89852")
SERIAL = bytes.fromhex("00002601000000000001")
TERM = bytes.fromhex("000000000001")
WHEN = bytes.fromhex("20261121" "120000")


def test_key_diversification():
    assert diversify(DLK, SERIAL).hex().upper() == "FAB035E0F853E7537A21C37BA0D7B711"
    assert diversify(DTK, SERIAL).hex().upper() == "5D7FBAB1BB026C6173C496DA3E9B139E"
    assert diversify(DPK, SERIAL).hex().upper() == "811204B7A9B6618BA686C80A44875766"


def test_load_session_key_mac1_mac2_and_tac():
    # EP load of 100.00 (0x2710) onto a balance of 100.00; random 11223344, online counter 5
    sk = load_session_key(diversify(DLK, SERIAL), bytes.fromhex("11223344"), bytes.fromhex("0005"))
    assert sk.hex().upper() == "8B0BA60EFF574F62"
    amount, kind = bytes.fromhex("00002710"), b"\x02"
    assert mac_pboc(sk, bytes.fromhex("00002710") + amount + kind + TERM).hex().upper() == "C6A0DC28"
    assert mac_pboc(sk, amount + kind + TERM + WHEN).hex().upper() == "185C5752"
    # TAC under the card's DTK folded to 8 bytes; new balance 200.00, the counter before increment
    tac_data = bytes.fromhex("00004E20") + bytes.fromhex("0005") + amount + kind + TERM + WHEN
    assert mac_pboc(diversify(DTK, SERIAL), tac_data).hex().upper() == "4E7820CC"


def test_purchase_session_key_mac1_mac2_and_tac():
    # EP purchase of 30.00 (0x0BB8); random 55667788, offline counter 3, terminal txn no 1
    txn_no = bytes.fromhex("00000001")
    sk = purchase_session_key(diversify(DPK, SERIAL), bytes.fromhex("55667788"), bytes.fromhex("0003"), txn_no)
    assert sk.hex().upper() == "8AF9828FBDB3296D"
    amount, kind = bytes.fromhex("00000BB8"), b"\x06"
    assert mac_pboc(sk, amount + kind + TERM + WHEN).hex().upper() == "F43A2D3E"
    assert mac_pboc(sk, amount).hex().upper() == "919E23CE"
    tac_data = amount + kind + TERM + txn_no + WHEN
    assert mac_pboc(diversify(DTK, SERIAL), tac_data).hex().upper() == "5A715055"


def test_the_shared_mac_functions_give_the_same_answers():
    from datetime import datetime

    from common.epurse_issuer import (DEMO_ISSUER_KEYS, load_mac1, load_mac2, load_tac, online_session_key,
                                      purchase_mac1, purchase_mac2, purchase_sk, purchase_tac)
    from common.epurse import bcd_when, TxnType
    card = DEMO_ISSUER_KEYS.for_card(SERIAL)
    when = bcd_when(datetime(2026, 11, 21, 12, 0, 0))
    assert when == WHEN
    sk = online_session_key(card.dlk, bytes.fromhex("11223344"), 5)
    assert load_mac1(sk, 10000, 10000, TxnType.EP_LOAD, TERM).hex().upper() == "C6A0DC28"
    assert load_mac2(sk, 10000, TxnType.EP_LOAD, TERM, when).hex().upper() == "185C5752"
    assert load_tac(card.dtk, 20000, 5, 10000, TxnType.EP_LOAD, TERM, when).hex().upper() == "4E7820CC"
    psk = purchase_sk(card.dpk, bytes.fromhex("55667788"), 3, 1)
    assert purchase_mac1(psk, 3000, TxnType.EP_PURCHASE, TERM, when).hex().upper() == "F43A2D3E"
    assert purchase_mac2(psk, 3000).hex().upper() == "919E23CE"
    assert purchase_tac(card.dtk, 3000, TxnType.EP_PURCHASE, TERM, 1, when).hex().upper() == "5A715055"
