"""The meter card's layout and keys (common/meter_card.py, common/meter_keys.py)
against CARDS-examples.md "Prepaid meter user card" (a), (b), (c) and (f),
byte for byte, and the codecs' refusals."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from common.meter_card import (MeterCardError, MeterReturn, MeterStatus, Purchase, Refusal, Utility, can_sell,
                               next_count, next_purchase)
from common.meter_keys import (DEMO_METER_MASTERS, purchase_mac_ok, return_mac_ok, sign_purchase, write_mac)
from tests.support.meters import EF01_7, EF01_8, EF02_C, KEYS, METER


def test_a_per_meter_keys_and_their_folded_mac_keys() -> None:
    assert KEYS.pk.hex().upper() == "449429BE5BC7C51D" "E23BEF3AA0E5F7EE"
    assert KEYS.rk.hex().upper() == "1A06AFA8D00913A6" "35F3DD08D943DA3F"
    assert KEYS.uk.hex().upper() == "704D333F80327724" "557397DA144CF5D9"
    folded = {name: bytes(a ^ b for a, b in zip(k[:8], k[8:])).hex().upper()
              for name, k in (("pk", KEYS.pk), ("rk", KEYS.rk), ("uk", KEYS.uk))}
    assert folded == {"pk": "A6AFC684FB2232F3", "rk": "2FF572A0094AC999", "uk": "253EA4E5947E82FD"}
    assert "449429" not in repr(KEYS)


def test_b_purchase_image() -> None:
    assert EF01_8.body().hex().upper() == "3101000123450100080027100001E848"
    assert EF01_8.encode().hex().upper() == "3101000123450100080027100001E84867D4B42E"
    assert Purchase.decode(EF01_8.encode()) == EF01_8
    assert purchase_mac_ok(KEYS.pk, EF01_8)
    assert not purchase_mac_ok(KEYS.rk, EF01_8)
    # (d)'s card before: purchase 7
    assert EF01_7.encode().hex().upper() == "310100012345010007004E200001C138B0FCBA54"


def test_c_meter_return_image() -> None:
    assert EF02_C.encode().hex().upper() == "00000DC00001DA880007022612051015302B0EA56C000000"
    decoded = MeterReturn.decode(EF02_C.encode())
    assert decoded == EF02_C
    assert decoded.status == MeterStatus.LOW_CREDIT
    assert decoded.time == datetime(2026, 12, 5, 10, 15, 30)
    assert return_mac_ok(KEYS.rk, decoded)
    assert not return_mac_ok(KEYS.rk, replace(decoded, remaining=decoded.remaining + 1))


def test_d_write_mac() -> None:
    assert write_mac(KEYS.uk, bytes.fromhex("11223344"), EF01_8.encode()).hex().upper() == "447EC0ED"


@pytest.mark.parametrize(("ef01_count", "ef02_count", "remaining", "quantity", "refusal"), [
    (7, 7, 3520, 10000, None),
    (8, 7, 3520, 10000, Refusal.NOT_APPLIED),
    (8, 8, 13520, 186480, None),
    (8, 8, 13520, 186481, Refusal.OVER_HOARDING_LIMIT),
    (0, 0, 0, 10000, None),
])
def test_f_vending_rule(ef01_count: int, ef02_count: int, remaining: int, quantity: int,
                        refusal: Refusal | None) -> None:
    if ef01_count == 0:     # the never-sold card: both files all 00
        ef01, ef02 = Purchase.decode(bytes(20)), MeterReturn.decode(bytes(24))
        assert ef01.blank and ef02.blank
    else:
        ef01 = replace(EF01_8, count=ef01_count)
        ef02 = replace(EF02_C, last_count=ef02_count, remaining=remaining)
    verdict = can_sell(ef01, ef02, quantity, hoarding_max=200000)
    assert bool(verdict) is (refusal is None)
    assert verdict.refusal is refusal


def test_f_reasons_read_as_the_examples_say() -> None:
    assert Refusal.NOT_APPLIED.value == "last purchase not yet applied by the meter"
    assert Refusal.OVER_HOARDING_LIMIT.value == "over the hoarding limit"


def test_the_vending_rule_refuses_a_nonsense_quantity_and_a_full_total() -> None:
    for quantity in (0, -1, 0x1000000, True):
        assert can_sell(EF01_7, EF02_C, quantity, 200000).refusal is Refusal.BAD_QUANTITY
    full = replace(EF01_7, total=0xFFFFFFFF - 5)
    assert can_sell(full, EF02_C, 10, 200000).refusal is Refusal.TOTAL_FULL


def test_a_reissued_card_with_a_blank_return_file_waits_for_the_meter() -> None:
    assert can_sell(EF01_7, MeterReturn.blank_file(), 100, 200000).refusal is Refusal.NOT_APPLIED


def test_counts_wrap_and_the_next_purchase() -> None:
    assert next_count(7) == 8 and next_count(65535) == 0
    first = next_purchase(Purchase.blank_file(), METER, Utility.WATER, 500)
    assert (first.count, first.total, first.utility) == (1, 500, Utility.WATER)
    wrapped = next_purchase(replace(EF01_7, count=65535), METER, Utility.ELECTRICITY, 10000)
    assert wrapped.count == 0 and wrapped.total == 125000
    signed = sign_purchase(KEYS.pk, next_purchase(EF01_7, METER, Utility.ELECTRICITY, 10000))
    assert signed == EF01_8


def test_blank_files_and_keys_of_another_meter() -> None:
    assert Purchase.decode(bytes(20)) == Purchase.blank_file()
    assert not purchase_mac_ok(KEYS.pk, Purchase.blank_file())
    assert not return_mac_ok(KEYS.rk, MeterReturn.blank_file())
    other = DEMO_METER_MASTERS.for_meter("310100012346")
    assert other.pk != KEYS.pk and not purchase_mac_ok(other.pk, EF01_8)


@pytest.mark.parametrize(("raw", "message"), [
    (bytes(19), "20 bytes"),
    (bytes.fromhex("3A0100012345" "01" "0008" "002710" "0001E848" "67D4B42E"), "not BCD"),
    (bytes.fromhex("310100012345" "04" "0008" "002710" "0001E848" "67D4B42E"), "unknown utility"),
])
def test_a_malformed_purchase_file_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(MeterCardError, match=message):
        Purchase.decode(raw)


@pytest.mark.parametrize(("raw", "message"), [
    (bytes(25), "24 bytes"),
    (bytes.fromhex("00000DC00001DA88000702" "26130510153" "0" "2B0EA56C000000"), "not a time"),
    (bytes.fromhex("00000DC00001DA88000702" "2612051015" "3A" "2B0EA56C000000"), "not BCD"),
])
def test_a_malformed_return_file_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(MeterCardError, match=message):
        MeterReturn.decode(raw)


def test_values_out_of_range_are_refused() -> None:
    with pytest.raises(MeterCardError):
        Purchase("31010001234", Utility.GAS, 1, 1, 1)
    with pytest.raises(MeterCardError):
        Purchase(METER, Utility.GAS, 65536, 1, 1)
    with pytest.raises(MeterCardError):
        Purchase(METER, Utility.GAS, 1, 0x1000000, 1)
    with pytest.raises(MeterCardError):
        MeterReturn(-1, 0, 0, MeterStatus.NONE, None)
    with pytest.raises(MeterCardError):
        MeterReturn(0, 0, 0, MeterStatus.NONE, datetime(2100, 1, 1))
    assert Utility.named(" Gas ") is Utility.GAS
    with pytest.raises(MeterCardError):
        Utility.named("steam")
