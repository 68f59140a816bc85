"""The terminal side of the e-purse (kiosk.cards.epurse) against hand-written
APDU transcripts: every command is asserted byte for byte and answered with
exact bytes, as data.

The MACs and TACs in the transcripts are those of a real demo card, serial
00002601000000000001 under the demo issuer keys. Load and purchase are the
OpenSSL-computed known answers of tests/test_epurse_crypto.py; the unload ones
were computed the same way for this file (openssl enc -des-ede / -des-cbc, zero
IV, 80 00.. padding written out):
  card DUK = 3DES(DUK, 2601000000000001) ‖ 3DES(DUK, D9FEFFFFFFFFFFFE)
           = 99BC4E476059B8B124E45CC8F66CD32B
  SK       = 3DES(card DUK, AABBCCDD ‖ 0002 ‖ 8000) = ACA7DA88617A213C
  MAC1     = MAC(SK, 0000C350 00004E20 03 000000000001)                       = FE48DB4C
  MAC2     = MAC(SK, 00004E20 03 000000000001 20261121120000)                 = 460FCF2B
  MAC3     = MAC(SK, 00007530 0002 00004E20 03 000000000001 20261121120000)   = C774FDAB
"""
from __future__ import annotations

import logging
from datetime import date, datetime

import pytest

from kiosk.cards.apdu import Response, command, error_for, trace_command
from kiosk.cards.epurse import AppInfo, EPurse, LogRecord, OnlineInit, PurchaseInit
from common.epurse_issuer import (DEMO_ISSUER_KEYS, load_mac1, load_mac2, load_tac, online_session_key,
                                  purchase_mac1, purchase_mac2, purchase_sk, purchase_tac, unload_mac3)
from common.epurse import bcd_when, TxnType, Wallet
from kiosk.domain.errors import (
    CardError,
    CardFault,
    CardKeyMissing,
    CardMacInvalid,
    CardPinBlocked,
    CardPinWrong,
    CardRemoved,
    DeviceError,
    NotOurCard,
    WalletInsufficient,
    WalletLimitExceeded,
)

SERIAL = bytes.fromhex("00002601000000000001")
TERM = bytes.fromhex("000000000001")
WHEN = datetime(2026, 11, 21, 12, 0, 0)         # BCD 20261121 120000


def wire(text: str) -> bytes:
    return bytes.fromhex(text)


class ScriptedCard:
    """An ApduTransport that plays a transcript: each transmit() must be the
    next expected command, exactly; it answers the scripted bytes."""

    def __init__(self, *exchanges: tuple[str, str]) -> None:
        self.exchanges = [(wire(cmd), wire(answer)) for cmd, answer in exchanges]

    def transmit(self, apdu: bytes) -> bytes:
        assert self.exchanges, f"unexpected APDU {apdu.hex(' ').upper()}"
        expected, answer = self.exchanges.pop(0)
        assert apdu.hex(" ").upper() == expected.hex(" ").upper()
        return answer

    def done(self) -> None:
        assert not self.exchanges, f"{len(self.exchanges)} scripted APDUs never sent"


def session(*exchanges: tuple[str, str]) -> tuple[EPurse, ScriptedCard]:
    card = ScriptedCard(*exchanges)
    return EPurse(card), card


# --- the transcript, one exchange per step -----------------------------------------
SELECT = ("00 A4 00 00 02 3F 01",
          "6F 14 84 0D 45 53 54 41 54 45 2E 45 50 55 52 53 45 A5 03 88 01 15  90 00")
APP_INFO = ("00 B0 95 00 1E",
            ("45 53 54 41 54 45 00 01"          # issuer id "ESTATE\0\1"
             " 01 01"                           # app type, version
             " 00 00 26 01 00 00 00 00 00 01"   # app serial
             " 20 26 01 01  20 30 12 31  00 00  90 00"))
BALANCE_EP = ("80 5C 00 02 04", "00 00 27 10 90 00")
BALANCE_ED = ("80 5C 00 01 04", "00 00 C3 50 90 00")
VERIFY = ("00 20 00 00 03 12 34 56", "90 00")
# EP load of 100.00 onto 100.00: online counter 5, key version 01, alg 00, random 11223344
INIT_LOAD = ("80 50 00 02 0B 01 00 00 27 10 00 00 00 00 00 01 10",
             "00 00 27 10 00 05 01 00 11 22 33 44 C6 A0 DC 28 90 00")
CREDIT_LOAD = ("80 52 00 00 0B 20 26 11 21 12 00 00 18 5C 57 52 04", "4E 78 20 CC 90 00")
# EP purchase of 30.00 from 200.00: offline counter 3, overdraft 0, random 55667788, txn no 1
INIT_PURCHASE = ("80 50 01 02 0B 01 00 00 0B B8 00 00 00 00 00 01 0F",
                 "00 00 4E 20 00 03 00 00 00 01 00 55 66 77 88 90 00")
DEBIT = ("80 54 01 00 0F 00 00 00 01 20 26 11 21 12 00 00 F4 3A 2D 3E 08", "5A 71 50 55 91 9E 23 CE 90 00")
# ED unload of 200.00 from 500.00: online counter 2, random AABBCCDD
INIT_UNLOAD = ("80 50 05 01 0B 01 00 00 4E 20 00 00 00 00 00 01 10",
               "00 00 C3 50 00 02 01 00 AA BB CC DD FE 48 DB 4C 90 00")
UNLOAD = ("80 54 03 00 0B 20 26 11 21 12 00 00 46 0F CF 2B 04", "C7 74 FD AB 90 00")


def test_select_by_file_id():
    purse, card = session(SELECT)
    purse.select()
    card.done()
    assert purse.apdu_count == 1


def test_read_app_info():
    purse, card = session(APP_INFO)
    info = purse.read_app_info()
    card.done()
    assert info == AppInfo(issuer_id=b"ESTATE\x00\x01", app_type=1, version=1, serial=SERIAL,
                           start=date(2026, 1, 1), expiry=date(2030, 12, 31))
    assert info.serial_hex == "00002601000000000001"


def test_balances():
    purse, card = session(BALANCE_EP, BALANCE_ED)
    assert purse.get_balance(Wallet.EP) == 10000
    assert purse.get_balance(Wallet.ED) == 50000
    card.done()


@pytest.mark.parametrize("pin, apdu", [
    ("123456", "00 20 00 00 03 12 34 56"),
    ("12345", "00 20 00 00 03 12 34 5F"),              # odd length: F-padded
    ("1234", "00 20 00 00 02 12 34"),
    ("123456789012", "00 20 00 00 06 12 34 56 78 90 12"),
])
def test_verify_pin_right(pin, apdu):
    purse, card = session((apdu, "90 00"))
    purse.verify_pin(pin)
    card.done()


def test_verify_pin_wrong_says_tries_left():
    purse, card = session(("00 20 00 00 03 65 43 21", "63 C2"))
    with pytest.raises(CardPinWrong) as info:
        purse.verify_pin("654321")
    assert info.value.tries_left == 2
    assert "654321" not in str(info.value)
    card.done()


def test_verify_pin_blocked():
    purse, card = session(("00 20 00 00 03 65 43 21", "69 83"))
    with pytest.raises(CardPinBlocked):
        purse.verify_pin("654321")
    card.done()


def test_load_ep_flow_is_three_apdus():
    purse, card = session(SELECT, INIT_LOAD, CREDIT_LOAD)
    purse.select()
    init = purse.init_load(Wallet.EP, 10000, TERM)
    assert init == OnlineInit(balance=10000, counter=5, key_version=1, alg_id=0,
                              random=wire("11223344"), mac1=wire("C6A0DC28"))
    tac = purse.credit_load(WHEN, wire("185C5752"))
    assert tac == wire("4E7820CC")
    card.done()
    assert purse.apdu_count == 3


def test_load_ed_with_pin_and_another_key_index():
    purse, card = session(VERIFY, ("80 50 00 01 0B 02 00 00 00 01 11 22 33 44 55 66 10",
                                   "00 00 00 00 00 00 02 00 01 02 03 04 0A 0B 0C 0D 90 00"))
    purse.verify_pin("123456")
    init = purse.init_load(Wallet.ED, 1, wire("112233445566"), key_index=2)
    assert init == OnlineInit(0, 0, 2, 0, wire("01020304"), wire("0A0B0C0D"))
    card.done()


def test_purchase_flow():
    purse, card = session(SELECT, INIT_PURCHASE, DEBIT)
    purse.select()
    init = purse.init_purchase(Wallet.EP, 3000, TERM)
    assert init == PurchaseInit(balance=20000, counter=3, overdraft_limit=0, key_version=1, alg_id=0,
                                random=wire("55667788"))
    tac, mac2 = purse.debit_purchase(1, WHEN, wire("F43A2D3E"))
    assert (tac, mac2) == (wire("5A715055"), wire("919E23CE"))
    card.done()
    assert purse.apdu_count == 3


def test_unload_flow_is_four_apdus():
    purse, card = session(SELECT, VERIFY, INIT_UNLOAD, UNLOAD)
    purse.select()
    purse.verify_pin("123456")
    init = purse.init_unload(20000, TERM)
    assert init == OnlineInit(balance=50000, counter=2, key_version=1, alg_id=0,
                              random=wire("AABBCCDD"), mac1=wire("FE48DB4C"))
    assert purse.unload(WHEN, wire("460FCF2B")) == wire("C774FDAB")
    card.done()
    assert purse.apdu_count == 4


def test_transcripts_are_one_consistent_card_session():
    """The card's answers in the transcripts verify under the demo card's keys,
    so the fields the terminal parsed (balance, counter, random) sit where the
    MACs say they do."""
    keys = DEMO_ISSUER_KEYS.for_card(SERIAL)
    when = bcd_when(WHEN)
    load = EPurse(ScriptedCard(INIT_LOAD)).init_load(Wallet.EP, 10000, TERM)
    sk = online_session_key(keys.dlk, load.random, load.counter)
    assert load_mac1(sk, load.balance, 10000, TxnType.EP_LOAD, TERM) == load.mac1
    assert load_mac2(sk, 10000, TxnType.EP_LOAD, TERM, when) == wire("185C5752")
    assert load_tac(keys.dtk, load.balance + 10000, load.counter, 10000, TxnType.EP_LOAD, TERM,
                    when) == wire("4E7820CC")

    buy = EPurse(ScriptedCard(INIT_PURCHASE)).init_purchase(Wallet.EP, 3000, TERM)
    psk = purchase_sk(keys.dpk, buy.random, buy.counter, 1)
    assert purchase_mac1(psk, 3000, TxnType.EP_PURCHASE, TERM, when) == wire("F43A2D3E")
    assert purchase_mac2(psk, 3000) == wire("919E23CE")
    assert purchase_tac(keys.dtk, 3000, TxnType.EP_PURCHASE, TERM, 1, when) == wire("5A715055")

    out = EPurse(ScriptedCard(INIT_UNLOAD)).init_unload(20000, TERM)
    usk = online_session_key(keys.duk, out.random, out.counter)
    assert usk == wire("ACA7DA88617A213C")
    assert load_mac1(usk, out.balance, 20000, TxnType.UNLOAD, TERM) == out.mac1
    assert load_mac2(usk, 20000, TxnType.UNLOAD, TERM, when) == wire("460FCF2B")
    assert unload_mac3(usk, out.balance - 20000, out.counter, 20000, TERM, when) == wire("C774FDAB")


def test_change_pin():
    purse, card = session(("80 5E 01 00 07 12 34 56 FF 65 43 21", "90 00"),
                          ("80 5E 01 00 06 12 34 FF 98 76 5F", "63 C1"))
    purse.change_pin("123456", "654321")
    with pytest.raises(CardPinWrong) as info:
        purse.change_pin("1234", "98765")
    assert info.value.tries_left == 1
    card.done()


def test_transaction_proof_found():
    purse, card = session(("80 5A 00 02 02 00 05 08", "18 5C 57 52 4E 78 20 CC 90 00"),
                          ("80 5A 00 03 02 00 02 08", "46 0F CF 2B C7 74 FD AB 90 00"))
    assert purse.transaction_proof(TxnType.EP_LOAD, 5) == (wire("185C5752"), wire("4E7820CC"))
    assert purse.transaction_proof(TxnType.UNLOAD, 2) == (wire("460FCF2B"), wire("C774FDAB"))
    card.done()


def test_transaction_proof_not_applied():
    purse, card = session(("80 5A 00 06 02 00 03 08", "94 06"))
    assert purse.transaction_proof(TxnType.EP_PURCHASE, 3) is None
    card.done()


LOG_1 = ("00 B2 01 C4 17", "00 03 00 00 00 00 00 0B B8 06 00 00 00 00 00 01 20 26 11 21 12 00 00 90 00")
LOG_2 = ("00 B2 02 C4 17", "00 05 00 00 00 00 00 27 10 02 12 34 56 78 9A BC 20 26 11 20 09 30 15 90 00")


def test_read_log_stops_at_the_first_unwritten_record():
    purse, card = session(LOG_1, LOG_2, ("00 B2 03 C4 17", "6A 83"))
    records = purse.read_log()
    card.done()
    assert records == [
        LogRecord(counter=3, overdraft=0, amount=3000, txn_type=TxnType.EP_PURCHASE, term_id=TERM, when=WHEN),
        LogRecord(counter=5, overdraft=0, amount=10000, txn_type=TxnType.EP_LOAD,
                  term_id=wire("123456789ABC"), when=datetime(2026, 11, 20, 9, 30, 15)),
    ]
    assert purse.apdu_count == 3


def test_read_log_reads_no_more_than_asked():
    purse, card = session(LOG_1, LOG_2)
    assert len(purse.read_log(max_records=2)) == 2
    card.done()


def test_empty_log():
    purse, card = session(("00 B2 01 C4 17", "6A 83"))
    assert purse.read_log() == []
    card.done()


# --- status words -> errors --------------------------------------------------------
@pytest.mark.parametrize("call, apdu, sw, error", [
    (lambda p: p.select(), SELECT[0], "6A 82", NotOurCard),
    (lambda p: p.verify_pin("123456"), VERIFY[0], "63 C0", CardPinWrong),
    (lambda p: p.verify_pin("123456"), VERIFY[0], "69 83", CardPinBlocked),
    (lambda p: p.init_purchase(Wallet.EP, 3000, TERM), INIT_PURCHASE[0], "94 01", WalletInsufficient),
    (lambda p: p.init_unload(20000, TERM), INIT_UNLOAD[0], "94 01", WalletInsufficient),
    (lambda p: p.init_load(Wallet.EP, 10000, TERM), INIT_LOAD[0], "94 02", WalletLimitExceeded),
    (lambda p: p.init_load(Wallet.EP, 10000, TERM), INIT_LOAD[0], "94 03", CardKeyMissing),
    (lambda p: p.credit_load(WHEN, wire("185C5752")), CREDIT_LOAD[0], "93 02", CardMacInvalid),
    (lambda p: p.debit_purchase(1, WHEN, wire("F43A2D3E")), DEBIT[0], "93 02", CardMacInvalid),
    (lambda p: p.unload(WHEN, wire("460FCF2B")), UNLOAD[0], "93 02", CardMacInvalid),
    (lambda p: p.credit_load(WHEN, wire("185C5752")), CREDIT_LOAD[0], "69 85", CardFault),
    (lambda p: p.init_load(Wallet.ED, 10000, TERM), INIT_LOAD[0].replace("00 02 0B", "00 01 0B"),
     "69 82", CardFault),
    (lambda p: p.get_balance(Wallet.EP), BALANCE_EP[0], "67 00", CardFault),
    (lambda p: p.get_balance(Wallet.EP), BALANCE_EP[0], "6D 00", CardFault),
    (lambda p: p.get_balance(Wallet.EP), BALANCE_EP[0], "6E 00", CardFault),
    (lambda p: p.get_balance(Wallet.EP), BALANCE_EP[0], "6A 86", CardFault),
    (lambda p: p.read_app_info(), APP_INFO[0], "6A 83", CardFault),     # 6A83 ends only the log
    (lambda p: p.transaction_proof(TxnType.EP_LOAD, 5), "80 5A 00 02 02 00 05 08", "6A 83", CardFault),
])
def test_status_words_become_typed_errors(call, apdu, sw, error):
    purse, card = session((apdu, sw))
    with pytest.raises(error) as info:
        call(purse)
    card.done()
    assert type(info.value) is error
    assert isinstance(info.value, CardError) and isinstance(info.value, DeviceError)
    assert sw.replace(" ", "") in str(info.value)     # the detail names the status word


def test_error_for_each_status_word():
    table = {0x63C3: CardPinWrong, 0x6983: CardPinBlocked, 0x9401: WalletInsufficient,
             0x9402: WalletLimitExceeded, 0x9302: CardMacInvalid, 0x9403: CardKeyMissing,
             0x6A82: NotOurCard, 0x6F00: CardFault, 0x6A83: CardFault, 0x9406: CardFault}
    for sw, error in table.items():
        assert type(error_for(sw, "TEST")) is error, hex(sw)
    assert error_for(0x63C3, "VERIFY").tries_left == 3


@pytest.mark.parametrize("call, apdu, answer", [
    (lambda p: p.get_balance(Wallet.EP), BALANCE_EP[0], "00 27 10 90 00"),              # 3 bytes
    (lambda p: p.get_balance(Wallet.EP), BALANCE_EP[0], "00 00 00 27 10 90 00"),        # 5 bytes
    (lambda p: p.read_app_info(), APP_INFO[0], APP_INFO[1].replace("00 00  90 00", "00 90 00")),
    (lambda p: p.init_load(Wallet.EP, 10000, TERM), INIT_LOAD[0], INIT_LOAD[1][3:]),  # 15 bytes
    (lambda p: p.credit_load(WHEN, wire("185C5752")), CREDIT_LOAD[0], "90 00"),       # no TAC
    (lambda p: p.debit_purchase(1, WHEN, wire("F43A2D3E")), DEBIT[0], "5A 71 50 55 90 00"),
    (lambda p: p.verify_pin("123456"), VERIFY[0], "01 90 00"),                        # data to VERIFY
    (lambda p: p.read_log(), "00 B2 01 C4 17", LOG_1[1][3:]),                         # 22 bytes
    (lambda p: p.get_balance(Wallet.EP), BALANCE_EP[0], "90"),                        # no status word
    (lambda p: p.get_balance(Wallet.EP), BALANCE_EP[0], ""),
    (lambda p: p.select(), SELECT[0], "84 0D 90 00"),                                 # not an FCI
])
def test_wrong_response_length_or_layout_is_a_card_fault(call, apdu, answer):
    purse, card = session((apdu, answer))
    with pytest.raises(CardFault):
        call(purse)
    card.done()


@pytest.mark.parametrize("call, apdu, answer", [
    (lambda p: p.read_app_info(), APP_INFO[0], APP_INFO[1].replace("20 30 12 31", "20 30 13 31")),
    (lambda p: p.read_app_info(), APP_INFO[0], APP_INFO[1].replace("20 26 01 01", "20 26 0A 01")),
    (lambda p: p.read_log(), LOG_1[0], LOG_1[1].replace("0B B8 06", "0B B8 04")),      # no such type
    (lambda p: p.read_log(), LOG_1[0], LOG_1[1].replace("12 00 00 90 00", "25 00 00 90 00")),
])
def test_nonsense_in_the_data_is_a_card_fault(call, apdu, answer):
    purse, card = session((apdu, answer))
    with pytest.raises(CardFault):
        call(purse)
    card.done()


def test_transport_errors_pass_through_and_count():
    class Gone:
        def transmit(self, apdu: bytes) -> bytes:
            raise CardRemoved("card left the field")

    purse = EPurse(Gone())
    with pytest.raises(CardRemoved):
        purse.get_balance(Wallet.EP)
    assert purse.apdu_count == 1


# --- arguments are checked before anything is sent -----------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda p: p.init_load(Wallet.EP, 0, TERM), "amount"),
    (lambda p: p.init_load(Wallet.EP, 2**31, TERM), "amount"),
    (lambda p: p.init_load(Wallet.EP, -1, TERM), "amount"),
    (lambda p: p.init_load(Wallet.EP, True, TERM), "amount"),
    (lambda p: p.init_load(Wallet.EP, 10.0, TERM), "amount"),
    (lambda p: p.init_purchase(Wallet.EP, 100, TERM[:5]), "terminal id"),
    (lambda p: p.init_unload(100, TERM + b"\x00"), "terminal id"),
    (lambda p: p.init_load(Wallet.EP, 100, TERM, key_index=256), "key index"),
    (lambda p: p.init_load(3, 100, TERM), "Wallet"),
    (lambda p: p.get_balance(0), "Wallet"),
    (lambda p: p.verify_pin("123"), "4 to 12 digits"),
    (lambda p: p.verify_pin("1234567890123"), "4 to 12 digits"),
    (lambda p: p.verify_pin("12a456"), "4 to 12 digits"),
    (lambda p: p.verify_pin("１２３４"), "4 to 12 digits"),               # full-width digits
    (lambda p: p.change_pin("123456", "12"), "4 to 12 digits"),
    (lambda p: p.credit_load(WHEN, wire("185C57")), "MAC2"),
    (lambda p: p.unload(WHEN, wire("460FCF2B00")), "MAC2"),
    (lambda p: p.debit_purchase(1, WHEN, b""), "MAC1"),
    (lambda p: p.debit_purchase(2**32, WHEN, wire("F43A2D3E")), "transaction number"),
    (lambda p: p.credit_load(date(2026, 11, 21), wire("185C5752")), "datetime"),
    (lambda p: p.transaction_proof(TxnType.EP_LOAD, 0x10000), "counter"),
    (lambda p: p.transaction_proof(0x04, 1), "TxnType"),
    (lambda p: p.read_log(0), "max_records"),
    (lambda p: p.read_log(11), "max_records"),
])
def test_bad_arguments_are_refused_before_any_apdu(call, message):
    purse, _card = session()
    with pytest.raises(ValueError, match=message):
        call(purse)
    assert purse.apdu_count == 0


@pytest.mark.parametrize("pin", ["98765432109876", "98a765", "987"])
def test_a_refused_pin_is_not_echoed(pin):
    purse, _card = session()
    with pytest.raises(ValueError) as info:
        purse.verify_pin(pin)
    assert pin not in str(info.value) and pin not in repr(info.value)


# --- the APDU trace ---------------------------------------------------------------------
def test_trace_masks_pins_and_shows_the_rest(caplog):
    caplog.set_level(logging.DEBUG, logger="kiosk.cards.apdu")
    purse, card = session(BALANCE_EP, VERIFY, ("00 20 00 00 03 65 43 21", "63 C2"),
                          ("80 5E 01 00 07 12 34 56 FF 65 43 21", "90 00"))
    purse.get_balance(Wallet.EP)
    purse.verify_pin("123456")
    with pytest.raises(CardPinWrong):
        purse.verify_pin("654321")
    purse.change_pin("123456", "654321")
    card.done()
    lines = [r.getMessage() for r in caplog.records if r.name == "kiosk.cards.apdu"]
    assert lines == [
        ">> 80 5C 00 02 04", "<< 00 00 27 10 90 00",
        ">> 00 20 00 00 03 ** ** **", "<< 90 00",
        ">> 00 20 00 00 03 ** ** **", "<< 63 C2",
        ">> 80 5E 01 00 07 ** ** ** ** ** ** **", "<< 90 00",
    ]
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "kiosk.cards.apdu")
    everything = caplog.text + " ".join(lines)
    for secret in ("12 34 56", "65 43 21", "123456", "654321"):
        assert secret not in everything


def test_no_trace_above_debug(caplog):
    caplog.set_level(logging.INFO)
    purse, card = session(VERIFY)
    purse.verify_pin("123456")
    card.done()
    assert not [r for r in caplog.records if r.name.startswith("kiosk.cards")]


def test_trace_command_masks_any_pin_instruction():
    assert trace_command(wire("00 20 00 00 02 12 34")) == "00 20 00 00 02 ** **"
    assert trace_command(wire("00 24 00 01 04 12 34 FF 56")) == "00 24 00 01 04 ** ** ** **"
    assert trace_command(wire("00 20 00 00")) == "00 20 00 00"              # no data to hide
    assert trace_command(wire("80 5C 00 01 04")) == "80 5C 00 01 04"


# --- the APDU helpers ------------------------------------------------------------------
def test_command_builder_cases():
    assert command(0x00, 0xA4, 0x00, 0x00) == wire("00 A4 00 00")                  # case 1
    assert command(0x80, 0x5C, 0x00, 0x02, le=4) == wire("80 5C 00 02 04")         # case 2
    assert command(0x00, 0xB0, 0x95, 0x00, le=256) == wire("00 B0 95 00 00")
    assert command(0x00, 0xA4, 0x00, 0x00, wire("3F01")) == wire(SELECT[0])        # case 3
    assert command(0x80, 0x5A, 0x00, 0x02, wire("0005"), le=8) == wire("80 5A 00 02 02 00 05 08")
    for bad in ({"cla": 0x100}, {"le": 0}, {"le": 257}, {"data": bytes(256)}):
        args = {"cla": 0x00, "ins": 0xB0, "p1": 0, "p2": 0} | bad
        with pytest.raises(ValueError):
            command(**args)


def test_response_parse():
    response = Response.parse(wire("00 00 27 10 90 00"))
    assert (response.data, response.sw, response.sw1, response.sw2, response.ok) == (
        wire("00002710"), 0x9000, 0x90, 0x00, True)
    assert not Response.parse(wire("63 C1")).ok
    with pytest.raises(CardFault):
        Response.parse(wire("90"))
