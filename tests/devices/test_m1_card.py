"""The virtual MIFARE Classic 1K (kiosk/devices/sim/m1_card.py) APDU by APDU,
without pcscd: keys and access bits enforced (63 00), unknown instructions
(6A 81), a failed authentication dropping the one held, value blocks, the
personalised image and its persistence."""
from __future__ import annotations

from pathlib import Path

import pytest

from common.onecard import DEMO_MAP
from common.onecard_blocks import decode_value, encode_value
from common.onecard_keys import DEMO_ONECARD_KEYS, sector_keys
from kiosk.devices.sim.m1_card import VirtualM1Card
from tests.support.onecard import UID, example_card

H = bytes.fromhex
OK, FAILED, UNSUPPORTED = "9000", "6300", "6A81"


def keys(sector: int) -> tuple[bytes, bytes]:
    k = sector_keys(DEMO_ONECARD_KEYS, UID, sector)
    return k.a, k.b


def send(card: VirtualM1Card, apdu: str | bytes) -> str:
    raw = H(apdu.replace(" ", "")) if isinstance(apdu, str) else apdu
    return card.process(raw).hex().upper()


def login(card: VirtualM1Card, block: int, key_type: str, key: bytes) -> str:
    assert send(card, b"\xFF\x82\x00\x00\x06" + key) == OK
    return send(card, f"FF86000005 0100{block:02X}{'60' if key_type == 'A' else '61'}00")


@pytest.fixture
def card() -> VirtualM1Card:
    return example_card()


def test_atr_and_uid(card: VirtualM1Card) -> None:
    assert card.atr == H("3B8F8001804F0CA000000306030001000000006A")
    assert send(card, "FFCA000000") == "A1B2C3D4" + OK


def test_a_wrong_key_is_refused_and_drops_the_authentication_held(card: VirtualM1Card) -> None:
    a2, b2 = keys(2)
    assert login(card, 8, "A", a2) == OK
    assert send(card, "FFB0000810").endswith(OK)
    assert login(card, 8, "A", b2) == FAILED                 # key B's bytes as key A
    assert send(card, "FFB0000810") == FAILED                # nothing held any more
    assert login(card, 8, "B", keys(6)[1]) == FAILED         # another sector's key


def test_operations_outside_the_authenticated_sector_are_refused(card: VirtualM1Card) -> None:
    assert login(card, 24, "A", keys(6)[0]) == OK
    assert send(card, "FFB0000810") == FAILED


def test_wallet_access_bits_debit_with_a_credit_with_b(card: VirtualM1Card) -> None:
    a2, b2 = keys(2)
    assert login(card, 8, "A", a2) == OK
    assert send(card, "FFD70008050100000001") == FAILED      # increment needs key B
    assert login(card, 8, "A", a2) == OK
    assert send(card, "FFD6000810" + encode_value(1, 8).hex()) == FAILED   # write needs key B
    assert login(card, 8, "A", a2) == OK
    assert send(card, "FFD70008050200000064") == OK          # decrement 100 with A
    assert send(card, "FFD70008020309") == OK                # restore 8, transfer 9 with A
    assert decode_value(card.block(9)) == (12245, 8)
    assert login(card, 8, "B", b2) == OK
    assert send(card, "FFD700080501000000C8") == OK          # increment 200 with B
    assert decode_value(card.block(8)) == (12445, 8)
    assert send(card, "FFD7000802030D") == FAILED            # transfer to another sector


def test_issuance_is_read_with_a_and_written_only_with_b(card: VirtualM1Card) -> None:
    a1, b1 = keys(1)
    assert login(card, 4, "A", a1) == OK
    assert send(card, "FFB0000410") == "2201000030390101202612013112312D" + OK
    assert send(card, "FFD6000410" + "00" * 16) == FAILED
    assert login(card, 4, "B", b1) == OK
    assert send(card, "FFD6000510" + "00" * 16) == OK


def test_a_value_op_on_a_data_block_that_is_not_a_value_block_is_refused(card: VirtualM1Card) -> None:
    assert login(card, 24, "A", keys(6)[0]) == OK
    assert send(card, "FFD70018050200000001") == FAILED


def test_block_0_and_the_trailer(card: VirtualM1Card) -> None:
    assert login(card, 0, "A", H("A0A1A2A3A4A5")) == OK
    assert send(card, "FFB0000010") == "A1B2C3D4" + "04" + "080400" + b"ESTATE1C".hex().upper() + OK
    assert send(card, "FFD6000010" + "00" * 16) == FAILED     # manufacturer block
    a2, b2 = keys(2)
    assert login(card, 11, "A", a2) == OK
    assert send(card, "FFB0000B10") == "000000000000" "08778F69" "000000000000" + OK   # keys never read
    assert send(card, "FFD6000B10" + (a2 + DEMO_MAP.access(2) + b2).hex()) == FAILED   # 011: key B writes
    assert login(card, 11, "B", b2) == OK
    assert send(card, "FFD6000B10" + (a2 + H("FFFFFFFF") + b2).hex()) == FAILED         # broken access bits


def test_unknown_instructions_and_classes(card: VirtualM1Card) -> None:
    assert send(card, "FFCA010000") == UNSUPPORTED            # ATS: not supported
    assert send(card, "FF00000000") == UNSUPPORTED
    assert send(card, "00A4040000") == UNSUPPORTED
    assert send(card, "FFB0000820") == FAILED                 # a known instruction, bad length


def test_state_is_saved_after_every_write(tmp_path: Path) -> None:
    card = example_card(tmp_path)
    assert login(card, 8, "A", keys(2)[0]) == OK
    assert send(card, "FFD70008050200000001") == OK
    again = VirtualM1Card.load(VirtualM1Card.file_for(tmp_path, UID))
    assert decode_value(again.block(8)) == (12344, 8)
    with pytest.raises(FileExistsError):
        example_card(tmp_path)
