"""The virtual CPU card (docs/cards.md §2) driven APDU by APDU through
process(), without pcscd. MACs are checked with the shared functions of
common.epurse_issuer under keys the test diversifies itself from the demo
issuer keys (as the card centre does), not with the card's own copy."""
from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from common.epurse_issuer import (DEMO_ISSUER_KEYS, load_mac1, load_mac2, load_tac, online_session_key,
                                  purchase_mac1, purchase_mac2, purchase_sk, purchase_tac, PurseKeys,
                                  unload_mac3)
from common.epurse import bcd_when, TxnType, Wallet
from kiosk.devices.sim.cpu_card import VirtualCpuCard
from kiosk.devices.sim.cpu_card_data import ATR, CardPulled
from common.demo_cards import load_test_cards

DEMO = {c.serial: c for c in load_test_cards().ic_cards}
ZHANG = "00002601000000000001"      # PIN 123456, balances from config/test-cards.toml
WANG = "00002601000000000003"       # PIN blocked
CHEN = "00002601000000000005"       # EP 990.00 of a 1,000.00 maximum
TERM = bytes.fromhex("000000000042")
WHEN = bcd_when(datetime(2026, 11, 21, 10, 30, 5))
ISSUED = date(2028, 2, 29)   # valid to the end of the tenth year after
FCI = bytes.fromhex("6F14840D") + b"ESTATE.EPURSE" + bytes.fromhex("A503880115")
SELECT_FID = "00A40000023F01"
VERIFY_ZHANG = "0020000003123456"


def keys_for(serial: str) -> PurseKeys:
    return DEMO_ISSUER_KEYS.for_card(bytes.fromhex(serial))
def card_for(folder: Path, serial: str = ZHANG) -> VirtualCpuCard:
    return VirtualCpuCard.personalise(DEMO[serial], folder, issued=ISSUED)


ED = DEMO[ZHANG].ed_balance.fen   # the passbook balance 张伟's card is personalised with


def tx(card: VirtualCpuCard, apdu: str | bytes) -> tuple[bytes, str]:
    """Send an APDU (hex or bytes); return (data, SW as 4 upper-case hex digits)."""
    raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
    answer = card.process(raw)
    return answer[:-2], answer[-2:].hex().upper()
def ok(card: VirtualCpuCard, apdu: str | bytes) -> bytes:
    data, sw = tx(card, apdu)
    assert sw == "9000", sw
    return data


def init_cmd(p1: int, p2: int, amount: int, key_index: int = 1, le: int = 0x10) -> bytes:
    return bytes([0x80, 0x50, p1, p2, 0x0B, key_index]) + amount.to_bytes(4, "big") + TERM + bytes([le])
@pytest.fixture
def card(tmp_path: Path) -> VirtualCpuCard:
    return card_for(tmp_path)
def on_disk(card: VirtualCpuCard) -> dict:
    assert card.path is not None
    return json.loads(card.path.read_text(encoding="utf-8"))
# --- select, app info, generic status words --------------------------------------
def test_select_by_file_id_and_by_df_name_answer_the_fci(card: VirtualCpuCard) -> None:
    assert ok(card, SELECT_FID) == FCI
    assert ok(card, "00A404000D" + b"ESTATE.EPURSE".hex()) == FCI
    assert ok(card, "00A404000D" + b"ESTATE.EPURSE".hex() + "00") == FCI     # with Le


@pytest.mark.parametrize("apdu", ["00A40000023F02", "00A404000D" + b"ESTATE.EPURSX".hex(),
                                  "00A40400023F01", "00A4000C023F01"])
def test_select_anything_else_is_file_not_found(card: VirtualCpuCard, apdu: str) -> None:
    assert tx(card, apdu)[1] == "6A82"


def test_app_info_ef15(card: VirtualCpuCard) -> None:
    info = ok(card, "00B095001E")
    assert len(info) == 30
    assert info[8:10] == b"\x01\x01"                        # app type, version
    assert info[10:20] == bytes.fromhex(ZHANG)               # app serial
    start, expiry = info[20:24].hex(), info[24:28].hex()
    assert (start, expiry) == ("20280229", "20381231")
    assert info[28:30] == b"\x00\x00"
    assert ok(card, "00B0950A0A") == bytes.fromhex(ZHANG)    # offset 10, 10 bytes
    assert tx(card, "00B096001E")[1] == "6A82"               # another short file id
    assert tx(card, "00B095001F")[1] == "6700"               # more than the file holds


@pytest.mark.parametrize("apdu, sw", [
    ("A05C000204", "6E00"),          # unknown class
    ("80CA000000", "6D00"),          # unknown instruction
    ("005C000204", "6D00"),          # GET BALANCE is proprietary (CLA 80)
    ("805C00", "6700"),              # shorter than a header
    ("00A40000033F01", "6700"),      # Lc says 3, 2 bytes follow
    ("805C000203", "6700"),          # balance is 4 bytes, not 3
    ("805C000304", "6A86"),          # no wallet 03
    ("805C010204", "6A86"),
])
def test_generic_status_words(card: VirtualCpuCard, apdu: str, sw: str) -> None:
    assert tx(card, apdu)[1] == sw


def test_atr_is_a_t1_card_with_a_valid_check_byte() -> None:
    assert ATR[0] == 0x3B and ATR[2] & 0x0F == 1             # TD1: T=1
    check = 0
    for b in ATR[1:]:
        check ^= b
    assert check == 0


# --- PIN ----------------------------------------------------------------------------
def test_balances_need_no_pin(card: VirtualCpuCard) -> None:
    assert int.from_bytes(ok(card, "805C000104"), "big") == ED
    assert int.from_bytes(ok(card, "805C000204"), "big") == 8550


def test_three_wrong_pins_block_the_card_for_good(tmp_path: Path) -> None:
    card = card_for(tmp_path)
    assert tx(card, "0020000003111111")[1] == "63C2"
    assert tx(card, "0020000003111111")[1] == "63C1"
    assert tx(card, "0020000003111111")[1] == "6983"
    assert tx(card, VERIFY_ZHANG)[1] == "6983"                      # even the right one
    assert tx(card, "805E010007123456FF654321")[1] == "6983"
    assert card_for(tmp_path).pin_tries_left == 0                   # saved: blocked after a restart
    assert tx(card_for(tmp_path), VERIFY_ZHANG)[1] == "6983"


def test_a_right_pin_resets_the_count(card: VirtualCpuCard) -> None:
    assert tx(card, "0020000003111111")[1] == "63C2"
    assert tx(card, "0020000003111111")[1] == "63C1"
    ok(card, VERIFY_ZHANG)
    assert card.pin_tries_left == 3
    assert tx(card, "0020000003111111")[1] == "63C2"


def test_odd_length_pin_is_f_padded(tmp_path: Path) -> None:
    card = VirtualCpuCard.create(tmp_path, serial="00002601000000000077", holder="x", pin="12345", issued=ISSUED)
    ok(card, "002000000312345F")
    assert tx(card, "0020000003123456")[1] == "63C2"


def test_verify_wrong_lengths_and_p1p2(card: VirtualCpuCard) -> None:
    assert tx(card, "00200000")[1] == "6700"
    assert tx(card, "00200000071234561234561234")[1] == "6700"     # 7 bytes: over 12 digits
    assert tx(card, "0020000103123456")[1] == "6A86"


def test_demo_card_with_blocked_pin(tmp_path: Path) -> None:
    assert tx(card_for(tmp_path, WANG), "0020000003111111")[1] == "6983"


def test_change_pin(card: VirtualCpuCard, tmp_path: Path) -> None:
    ok(card, "805E010007123456FF654321")
    card = card_for(tmp_path)                                       # reloaded from its file
    assert tx(card, VERIFY_ZHANG)[1] == "63C2"
    ok(card, "0020000003654321")
    assert card.pin_tries_left == 3


def test_change_pin_with_a_wrong_old_pin_counts_as_a_wrong_verify(card: VirtualCpuCard) -> None:
    assert tx(card, "805E010007111111FF654321")[1] == "63C2"
    assert tx(card, "805E010007111111FF654321")[1] == "63C1"
    assert tx(card, "805E010007111111FF654321")[1] == "6983"
    assert tx(card, "805E010007123456FF654321")[1] == "6983"


def test_change_pin_malformed(card: VirtualCpuCard) -> None:
    assert tx(card, "805E010006123456654321")[1] == "6A80"  # no FF separator
    assert tx(card, "805E010005123456FF12")[1] == "6A80"  # new PIN of 2 digits
    assert tx(card, "805E020007123456FF654321")[1] == "6A86"
    assert card.pin_tries_left == 3                                 # none of these cost a try


# --- load -----------------------------------------------------------------------------
def parse_online_init(data: bytes) -> tuple[int, int, bytes, bytes]:
    assert len(data) == 16
    assert data[6:8] == b"\x01\x00"                                 # key version, alg id
    return int.from_bytes(data[:4], "big"), int.from_bytes(data[4:6], "big"), data[8:12], data[12:16]


def load(card: VirtualCpuCard, wallet: int, amount: int) -> tuple[int, bytes, bytes]:
    """An honest load: checks MAC1, sends a right MAC2, checks the TAC.
    Returns (counter used, MAC2, TAC)."""
    keys = keys_for(card.serial)
    txn_type = TxnType(wallet)                  # 01 ED load, 02 EP load
    balance, counter, random, mac1 = parse_online_init(ok(card, init_cmd(0x00, wallet, amount)))
    sk = online_session_key(keys.dlk, random, counter)
    assert mac1 == load_mac1(sk, balance, amount, txn_type, TERM)
    mac2 = load_mac2(sk, amount, txn_type, TERM, WHEN)
    tac = ok(card, b"\x80\x52\x00\x00\x0B" + WHEN + mac2 + b"\x04")
    assert tac == load_tac(keys.dtk, balance + amount, counter, amount, txn_type, TERM, WHEN)
    return counter, mac2, tac


def test_ep_load_with_mac1_mac2_tac_counter_log_and_proof(card: VirtualCpuCard) -> None:
    counter, mac2, tac = load(card, 2, 10000)
    assert counter == 0
    assert int.from_bytes(ok(card, "805C000204"), "big") == 18550
    assert card.purse(Wallet.EP).online_counter == 1
    record = ok(card, "00B201C417")
    assert record == (b"\x00\x00" + b"\x00\x00\x00" + (10000).to_bytes(4, "big") + b"\x02" + TERM + WHEN)
    assert ok(card, "805A00020200" + "0008") == mac2 + tac
    counter, _, _ = load(card, 2, 100)
    assert counter == 1                                  # the next load answers the incremented counter


def test_ed_load_needs_the_pin_in_this_session(card: VirtualCpuCard) -> None:
    assert tx(card, init_cmd(0x00, 1, 100))[1] == "6982"
    ok(card, VERIFY_ZHANG)
    load(card, 1, 100)
    card.reset()
    assert tx(card, init_cmd(0x00, 1, 100))[1] == "6982"
    card.power_off()
    assert tx(card, init_cmd(0x00, 1, 100))[1] == "6982"


def test_wrong_mac2_is_refused_and_voids_the_initialize(card: VirtualCpuCard) -> None:
    ok(card, init_cmd(0x00, 2, 500))
    assert tx(card, b"\x80\x52\x00\x00\x0B" + WHEN + b"\x00\x00\x00\x00" + b"\x04")[1] == "9302"
    assert card.balance(Wallet.EP) == 8550
    assert tx(card, b"\x80\x52\x00\x00\x0B" + WHEN + b"\x00\x00\x00\x00" + b"\x04")[1] == "6985"
    assert tx(card, "00B201C417")[1] == "6A83"          # nothing logged


def test_credit_without_initialize_or_after_reset(card: VirtualCpuCard) -> None:
    credit = b"\x80\x52\x00\x00\x0B" + WHEN + bytes(4) + b"\x04"
    assert tx(card, credit)[1] == "6985"
    ok(card, init_cmd(0x00, 2, 500))
    card.reset()
    assert tx(card, credit)[1] == "6985"
    ok(card, init_cmd(0x00, 2, 500))
    ok(card, SELECT_FID)                                  # a select voids it too
    assert tx(card, credit)[1] == "6985"


def test_purse_maximum(tmp_path: Path) -> None:
    card = card_for(tmp_path, CHEN)
    assert tx(card, init_cmd(0x00, 2, 1001))[1] == "9402"
    load(card, 2, 1000)                                   # exactly to the maximum
    assert card.balance(Wallet.EP) == 100000
    assert tx(card, init_cmd(0x00, 2, 1))[1] == "9402"


def test_init_wrong_key_index_lengths_and_p1p2(card: VirtualCpuCard) -> None:
    assert tx(card, init_cmd(0x00, 2, 100, key_index=2))[1] == "9403"
    assert tx(card, init_cmd(0x00, 3, 100))[1] == "6A86"
    assert tx(card, init_cmd(0x02, 2, 100))[1] == "6A86"
    assert tx(card, init_cmd(0x00, 2, 100, le=0x0F))[1] == "6700"   # load answers 16 bytes
    assert tx(card, "80500002050100000064")[1] == "6700"


# --- purchase -------------------------------------------------------------------------
def purchase(card: VirtualCpuCard, wallet: int, amount: int, txn_no: int = 7,
             mac1: bytes | None = None) -> tuple[str, int, bytes, bytes]:
    """Returns (SW of the debit, counter used, card's TAC, card's MAC2)."""
    keys = keys_for(card.serial)
    txn_type = TxnType.EP_PURCHASE if wallet == 2 else TxnType.ED_PURCHASE
    data = ok(card, init_cmd(0x01, wallet, amount, le=0x0F))
    assert len(data) == 15 and data[6:9] == b"\x00\x00\x00" and data[9:11] == b"\x01\x00"
    balance, counter, random = int.from_bytes(data[:4], "big"), int.from_bytes(data[4:6], "big"), data[11:15]
    assert balance == card.balance(wallet)
    sk = purchase_sk(keys.dpk, random, counter, txn_no)
    if mac1 is None:
        mac1 = purchase_mac1(sk, amount, txn_type, TERM, WHEN)
    answer, sw = tx(card, b"\x80\x54\x01\x00\x0F" + txn_no.to_bytes(4, "big") + WHEN + mac1 + b"\x08")
    if sw != "9000":
        return sw, counter, b"", b""
    tac, mac2 = answer[:4], answer[4:]
    assert mac2 == purchase_mac2(sk, amount)
    assert tac == purchase_tac(keys.dtk, amount, txn_type, TERM, txn_no, WHEN)
    return sw, counter, tac, mac2


def test_ep_purchase_with_mac1_check_tac_mac2_log_and_proof(card: VirtualCpuCard) -> None:
    sw, counter, tac, mac2 = purchase(card, 2, 3000)
    assert (sw, counter) == ("9000", 0)
    assert card.balance(Wallet.EP) == 5550
    assert card.purse(Wallet.EP).offline_counter == 1
    assert card.purse(Wallet.EP).online_counter == 0
    assert ok(card, "00B201C417")[9] == 0x06
    assert ok(card, "805A0006020000" + "08") == mac2 + tac


def test_wrong_mac1_is_refused(card: VirtualCpuCard) -> None:
    assert purchase(card, 2, 3000, mac1=b"\x01\x02\x03\x04")[0] == "9302"
    assert card.balance(Wallet.EP) == 8550
    assert card.purse(Wallet.EP).offline_counter == 0
    assert tx(card, b"\x80\x54\x01\x00\x0F" + bytes(15) + b"\x08")[1] == "6985"


def test_purchase_insufficient_and_ed_needs_pin(card: VirtualCpuCard) -> None:
    assert tx(card, init_cmd(0x01, 2, 8551, le=0x0F))[1] == "9401"
    assert tx(card, init_cmd(0x01, 1, 100, le=0x0F))[1] == "6982"
    ok(card, VERIFY_ZHANG)
    assert purchase(card, 1, 100)[0] == "9000"
    assert card.balance(Wallet.ED) == ED - 100
    assert ok(card, "00B201C417")[9] == 0x05


def test_debit_without_initialize_and_wrong_p1(card: VirtualCpuCard) -> None:
    assert tx(card, b"\x80\x54\x01\x00\x0F" + bytes(15) + b"\x08")[1] == "6985"
    assert tx(card, b"\x80\x54\x02\x00\x0F" + bytes(15) + b"\x08")[1] == "6A86"
    ok(card, init_cmd(0x00, 2, 100))                      # a load pending is not a purchase
    assert tx(card, b"\x80\x54\x01\x00\x0F" + bytes(15) + b"\x08")[1] == "6985"


# --- unload ---------------------------------------------------------------------------
def test_unload_with_mac3_and_proof(card: VirtualCpuCard) -> None:
    keys = keys_for(card.serial)
    ok(card, VERIFY_ZHANG)
    load(card, 1, 100)                                    # ED online counter 0 -> 1
    balance, counter, random, mac1 = parse_online_init(ok(card, init_cmd(0x05, 1, 5000)))
    assert (balance, counter) == (ED + 100, 1)
    sk = online_session_key(keys.duk, random, counter)
    assert mac1 == load_mac1(sk, balance, 5000, TxnType.UNLOAD, TERM)
    mac2 = load_mac2(sk, 5000, TxnType.UNLOAD, TERM, WHEN)
    mac3 = ok(card, b"\x80\x54\x03\x00\x0B" + WHEN + mac2 + b"\x04")
    assert mac3 == unload_mac3(sk, ED + 100 - 5000, 1, 5000, TERM, WHEN)
    assert card.balance(Wallet.ED) == ED + 100 - 5000
    assert card.purse(Wallet.ED).online_counter == 2
    assert ok(card, "805A000302000108") == mac2 + mac3
    assert ok(card, "00B201C417")[9] == 0x03
    assert ok(card, "00B202C417")[9] == 0x01


def test_unload_refusals(card: VirtualCpuCard) -> None:
    assert tx(card, init_cmd(0x05, 1, 100))[1] == "6982"          # PIN first
    assert tx(card, init_cmd(0x05, 2, 100))[1] == "6A86"          # the purse cannot be unloaded
    ok(card, VERIFY_ZHANG)
    assert tx(card, init_cmd(0x05, 1, ED + 1))[1] == "9401"
    assert tx(card, b"\x80\x54\x03\x00\x0B" + WHEN + bytes(4) + b"\x04")[1] == "6985"
    ok(card, init_cmd(0x05, 1, 100))
    assert tx(card, b"\x80\x54\x03\x00\x0B" + WHEN + bytes(4) + b"\x04")[1] == "9302"
    assert card.balance(Wallet.ED) == ED


# --- proofs and the cyclic log ----------------------------------------------------------
def test_proof_unknown_and_malformed(card: VirtualCpuCard) -> None:
    assert tx(card, "805A000202000008")[1] == "9406"
    assert tx(card, "805A000402000008")[1] == "6A86"      # no type 04
    assert tx(card, "805A00020100")[1] == "6700"


def test_log_is_cyclic_with_ten_records_and_ten_proofs(card: VirtualCpuCard) -> None:
    assert tx(card, "00B201C417")[1] == "6A83"
    proofs = {}
    for n in range(12):
        _, counter, tac, mac2 = purchase(card, 2, 100 + n, txn_no=n)
        proofs[counter] = mac2 + tac
    for nn in range(1, 11):                              # record 1 = the most recent
        record = ok(card, f"00B2{nn:02X}C417")
        assert int.from_bytes(record[:2], "big") == 12 - nn
        assert int.from_bytes(record[5:9], "big") == 100 + 12 - nn
    assert tx(card, "00B20BC417")[1] == "6A83"
    assert tx(card, "00B200C417")[1] == "6A86"
    assert tx(card, "00B201CC17")[1] == "6A82"             # SFI 19: no such file
    for counter in (0, 1):
        assert tx(card, f"805A00060200{counter:02X}08")[1] == "9406"
    for counter in range(2, 12):
        assert ok(card, f"805A00060200{counter:02X}08") == proofs[counter]
    assert len(on_disk(card)["log"]) == 10


# --- persistence --------------------------------------------------------------------------
def test_state_survives_a_reload_and_the_file_is_replaced_atomically(tmp_path: Path) -> None:
    card = card_for(tmp_path)
    _, mac2, tac = load(card, 2, 2000)
    again = card_for(tmp_path)                            # personalise loads the existing file
    assert again.balance(Wallet.EP) == 10550
    assert again.purse(Wallet.EP).online_counter == 1
    assert ok(again, "805A000202000008") == mac2 + tac
    assert again.log_records()[0].amount == 2000
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{ZHANG}.json"]   # no temp file left
    state = on_disk(again)
    assert state["ep"]["balance"] == 10550 and state["keys"]["dlk"] == keys_for(ZHANG).dlk.hex().upper()
def test_personalise_uses_the_cards_own_diversified_keys(card: VirtualCpuCard) -> None:
    assert card.keys == keys_for(ZHANG)
    assert card.keys != DEMO_ISSUER_KEYS


def test_create_refuses_an_existing_card_and_bad_fields(tmp_path: Path) -> None:
    VirtualCpuCard.create(tmp_path, serial="00002601000000000088", holder="x", pin="1234", ep_balance=100,
                          issued=ISSUED)
    with pytest.raises(FileExistsError):
        VirtualCpuCard.create(tmp_path, serial="00002601000000000088", holder="y", pin="1234", issued=ISSUED)
    for bad in ({"serial": "123"}, {"pin": "12"}, {"ep_balance": 100001}):
        fields = {"serial": "00002601000000000089", "holder": "x", "pin": "1234", "issued": ISSUED, **bad}
        with pytest.raises(ValueError):
            VirtualCpuCard.create(tmp_path, **fields)
# --- the fault hook --------------------------------------------------------------------------
def test_pulled_before_a_command_changes_nothing(tmp_path: Path) -> None:
    card = card_for(tmp_path)
    ok(card, VERIFY_ZHANG)
    ok(card, init_cmd(0x00, 1, 100))
    before = card.path.read_bytes()                      # type: ignore[union-attr]
    card.fault = lambda apdu: "before" if apdu[1] == 0x52 else None
    with pytest.raises(CardPulled) as pulled:
        card.process(b"\x80\x52\x00\x00\x0B" + WHEN + bytes(4) + b"\x04")
    assert not pulled.value.applied
    assert card.path.read_bytes() == before              # type: ignore[union-attr]
    card.fault = None
    assert tx(card, init_cmd(0x00, 1, 100))[1] == "6982"  # the session went with the card


def test_pulled_after_a_command_keeps_the_write_and_its_proof(tmp_path: Path) -> None:
    card = card_for(tmp_path)
    keys = keys_for(ZHANG)
    _, counter, random, _ = parse_online_init(ok(card, init_cmd(0x00, 2, 700)))
    sk = online_session_key(keys.dlk, random, counter)
    mac2 = load_mac2(sk, 700, TxnType.EP_LOAD, TERM, WHEN)
    card.fault = lambda apdu: "after"
    with pytest.raises(CardPulled) as pulled:
        card.process(b"\x80\x52\x00\x00\x0B" + WHEN + mac2 + b"\x04")
    assert pulled.value.applied
    again = card_for(tmp_path)                           # the saved state: applied
    assert again.balance(Wallet.EP) == 9250
    tac = load_tac(keys.dtk, 9250, counter, 700, TxnType.EP_LOAD, TERM, WHEN)
    assert ok(again, f"805A00020200{counter:02X}08") == mac2 + tac


def test_a_bad_fault_verdict_is_a_test_bug(card: VirtualCpuCard) -> None:
    card.fault = lambda apdu: "later"                    # type: ignore[assignment,return-value]
    with pytest.raises(ValueError):
        card.process(bytes.fromhex("805C000204"))
