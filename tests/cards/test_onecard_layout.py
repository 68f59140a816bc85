"""The one-card's layout and keys (common/onecard.py, common/onecard_keys.py)
against every worked example of ../shared/CARDS-examples.md "MIFARE Classic
one-card", byte for byte, and the codecs' refusals."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from common.onecard import DEMO_MAP, MalformedBlock, SectorMap, SessionKeys, access_codes, invert, trailer
from common.onecard_blocks import (CardKind, CardStatus, EstateData, Issuance, PublicInfo, Record, auth_block,
                                   decode_value, encode_value, read_public_info)
from common.onecard_keys import (DEMO_ONECARD_KEYS, IssuerKeyProvider, auth_code, diversifier, issuance_key,
                                 sector_keys)

UID = bytes.fromhex("A1B2C3D4")
H = bytes.fromhex


@pytest.mark.parametrize(("sector", "d", "key_a", "key_b"), [
    (0, "A1B2C3D4004D3100", "A0A1A2A3A4A5", "2540C5A6C0C5"),
    (1, "A1B2C3D4014D3100", "568AC5457044", "017F36B4D128"),
    (2, "A1B2C3D4024D3100", "3E504A4D4E2C", "91CCC4008095"),
    (6, "A1B2C3D4064D3100", "F97378C9FA04", "786E525A3032"),
    (7, "A1B2C3D4074D3100", "CBE025F5C44F", "E08DA3527630"),
])
def test_sector_keys(sector: int, d: str, key_a: str, key_b: str) -> None:
    assert diversifier(UID, sector) == H(d)
    keys = sector_keys(DEMO_ONECARD_KEYS, UID, sector)
    assert (keys.a, keys.b) == (H(key_a), H(key_b))
    assert IssuerKeyProvider().sector_keys(UID, sector) == keys


def test_issuance_key() -> None:
    assert issuance_key(DEMO_ONECARD_KEYS, UID) == H("8A5129413A15B103B7D5806DD973ACF5")


@pytest.mark.parametrize(("sectors", "access"), [
    ((2,), "08778F69"),
    ((3, 4, 5, 6, 7, 8, 9, 15), "7F078869"),
    ((0, 1), "78778869"),
])
def test_access_bytes(sectors: tuple[int, ...], access: str) -> None:
    for sector in sectors:
        assert DEMO_MAP.access(sector) == H(access)


def test_access_bytes_decode_to_their_codes_and_a_broken_inverse_is_malformed() -> None:
    assert access_codes(H("08778F")) == (0b110, 0b110, 0b110, 0b011)
    assert access_codes(H("788869")[:1] + H("7788")) == (0b100, 0b100, 0b100, 0b011)
    with pytest.raises(MalformedBlock):
        access_codes(H("09778F"))


def test_sector_2_trailer() -> None:
    assert trailer(sector_keys(DEMO_ONECARD_KEYS, UID, 2), DEMO_MAP.access(2)) == H(
        "3E504A4D4E2C08778F6991CCC4008095")


def test_value_block() -> None:
    block = H("39300000C6CFFFFF3930000008F708F7")
    assert encode_value(12345, 8) == block
    assert decode_value(block) == (12345, 8)
    for i in (0, 4, 8, 12, 13):      # any copy disagreeing
        broken = bytearray(block)
        broken[i] ^= 0x01
        with pytest.raises(MalformedBlock):
            decode_value(bytes(broken))


def test_issuance_blocks_4_and_5() -> None:
    issuance = Issuance("2201", 12345, CardKind.RESIDENT, CardStatus.ACTIVE, date(2026, 12, 1), date(2031, 12, 31))
    b4 = issuance.encode()
    assert b4 == H("2201000030390101202612013112312D")
    assert Issuance.decode(b4) == issuance
    assert auth_block(auth_code(DEMO_ONECARD_KEYS, UID, b4)) == H("A508D4AB000000000000000000000000")
    with pytest.raises(MalformedBlock, match="XOR"):
        Issuance.decode(b4[:15] + b"\x00")


def test_public_info_blocks_24_and_25() -> None:
    info = PublicInfo(pointer=3, count=17, flag=0x01, black=0x00, pending_type=0x05, pending_amount=5000,
                      balance_before=12345)
    b24, b25 = info.blocks()
    assert b24 == H("03001101000500138800303900000084")
    assert b25 == H("FCFFEEFEFFFAFFEC77FFCFC6FFFFFF7B")
    assert read_public_info(b24, b25) == (info, False)


def test_the_public_info_read_rule() -> None:
    old, new = PublicInfo(2, 16, 0x02).blocks(), PublicInfo(2, 16, 0x01, 0, 5, 5000, 12345).blocks()
    # 24 written, 25 not yet: 25 is not 24's inverse, ~25 is valid -> the old state, rewritten
    assert read_public_info(new[0], old[1]) == (PublicInfo(2, 16, 0x02), True)
    # 24 broken: ~25
    assert read_public_info(bytes(16), new[1])[0] == PublicInfo(2, 16, 0x01, 0, 5, 5000, 12345)
    with pytest.raises(MalformedBlock):
        read_public_info(bytes(16), bytes(16))


def test_record() -> None:
    record = Record.make(18, 0x05, 5000, 7345, H("000000000001"), datetime(2026, 12, 5, 10, 15))
    assert record.encode() == H("001205001388001CB100000112051015")
    assert Record.decode(record.encode()) == record


def test_estate_blocks_28_and_29() -> None:
    b28, b29 = EstateData("3-2-1202", 1202, "张三").encode()
    assert b28 == H("332D322D313230322020202000" "0004B2")
    assert b29 == H("D5C5C8FD000000000000000000000000")
    assert EstateData.decode(b28, b29) == EstateData("3-2-1202", 1202, "张三")


def test_a_name_over_16_gb18030_bytes_is_refused_never_cut() -> None:
    EstateData("1-1-101", 1, "欧阳八个汉字名字").encode()          # 16 bytes: fits
    with pytest.raises(ValueError, match="over 16"):
        EstateData("1-1-101", 1, "欧阳九个汉字的名字").encode()    # 18 bytes


def test_amounts_fit_3_bytes() -> None:
    PublicInfo(8, 0, 0x01, pending_type=1, pending_amount=0xFFFFFF, balance_before=0).encode()
    with pytest.raises(ValueError, match="3 bytes"):
        PublicInfo(8, 0, 0x01, pending_type=1, pending_amount=0x1000000).encode()


def test_the_demo_sector_map() -> None:
    assert DEMO_MAP.directory_block() == H("000110030303062021FFFFFFFFFFFFFF")
    assert [DEMO_MAP.record_block(i) for i in range(9)] == [12, 13, 14, 16, 17, 18, 20, 21, 22]
    assert (DEMO_MAP.purse_block, DEMO_MAP.backup_block, DEMO_MAP.public_block, DEMO_MAP.estate_block,
            DEMO_MAP.door_block) == (8, 9, 24, 28, 32)
    with pytest.raises(ValueError):
        SectorMap(wallet=1)           # two areas in one sector


def test_session_keys_know_one_card_and_the_sectors_sent() -> None:
    keys = SessionKeys(UID, {6: sector_keys(DEMO_ONECARD_KEYS, UID, 6)})
    assert keys.sector_keys(UID, 6).a == H("F97378C9FA04")
    with pytest.raises(LookupError):
        keys.sector_keys(UID, 2)
    with pytest.raises(LookupError):
        keys.sector_keys(invert(UID), 6)
