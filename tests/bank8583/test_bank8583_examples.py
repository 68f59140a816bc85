"""Every frame, PIN block, encrypted track and MAC step of
../shared/BANK-8583-examples.md, which an independent implementation of
BANK-8583.md computed: ours reproduces each byte. Each frame is written field by
field (hex, commented), checked against the page's one-line hex, then built
from a Message and parsed back."""
from __future__ import annotations

import pytest

from common import crypto
from common.bank8583 import mac, tracks, wire
from common.bank8583.codec import Message, pack
from common.bank8583.fields import (
    NET_FINANCIAL, NET_SETTLEMENT, NET_SIGN_ON, TYPE_MANAGEMENT, TYPE_PURCHASE,
    Field60, Field61, Totals, amount, security_control,
)
from common.bank8583.keys import check_value, decode_field62, ecb_encrypt, encode_field62
from common.money import Money
from tests.support.bank8583 import (
    BILL_REF, HEADER, KEYS, MAK, MERCHANT, PAN, PIK, PIN, REPLY_TPDU, REQUEST_TPDU, TDK, TERMINAL, TMK, TRACK2,
    hexjoin,
)

T41 = "4B494F534B303031"                      # 41 ans8 "KIOSK001"
T42 = "383938343430333530313130303031"        # 42 ans15 "898440350110001"
FOREIGN = "0" * 31                           # 48: the foreign-card half, 31 zero digits

# --- (a) sign-on: field 62 ----------------------------------------------------
FIELD62 = hexjoin(
    "9B3A7B883A100F73B4ABA2BB791C50E7", "D2B91CC5",   # E(PIK), CV(PIK)
    "5ADC39F46164960E17B9F1B1A1B2D33C", "E18DE25E",   # E(MAK), CV(MAK)
    "00396833D152DA8EE9225CA7B2F0EF16", "DDB7368E",   # E(TDK), CV(TDK)
)

SIGN_ON = hexjoin(
    "003B",                 # LEN 59
    "6000030000",           # TPDU 60, to 0003, from 0000
    "603100000000",         # HEADER 60 31 0 0 000000
    "0800",                 # MTI
    "00200000 00C00012",    # BITMAP 11 41 42 60 63
    "000001",               # 11 STAN 000001
    T41, T42,               # 41, 42
    "0011 000000010040",    # 60 LLL 11: 00 | 000001 | 004, trailing 0 nibble
    "0002 3031",            # 63 LLL 2: operator "01"
)
SIGN_ON_MSG = Message("0800", {
    11: "000001", 41: TERMINAL, 42: MERCHANT,
    60: Field60(TYPE_MANAGEMENT, "000001", NET_SIGN_ON).encode(), 63: "01",
})

SIGN_ON_REPLY = hexjoin(
    "008B",                 # LEN 139
    "6000000003",           # TPDU swapped
    "603100000000",         # HEADER
    "0810",                 # MTI
    "00380001 0AC00014",    # BITMAP 11 12 13 32 37 39 41 42 60 62
    "000001",               # 11
    "080000",               # 12 hhmmss
    "1205",                 # 13 MMDD
    "04 0104",              # 32 LL 4 digits
    "323631323035303030303031",  # 37 an12 "261205000001"
    "3030",                 # 39 "00"
    T41, T42,               # 41, 42
    "0011 000000010040",    # 60
    "0060", FIELD62.hex(),  # 62 LLL 60 bytes
)
SIGN_ON_REPLY_MSG = Message("0810", {
    11: "000001", 12: "080000", 13: "1205", 32: "0104", 37: "261205000001", 39: "00",
    41: TERMINAL, 42: MERCHANT, 60: "00000001004", 62: FIELD62,
})

# --- (d) purchase -------------------------------------------------------------
PIN_BLOCK = bytes.fromhex("19A0CBA88AC3FCF9")
TRACK_SENT = "6222020000000000017D8A69033077F9D3DF5"

PURCHASE = hexjoin(
    "0091",                 # LEN 145
    "6000030000",           # TPDU
    "603100000000",         # HEADER
    "0200",                 # MTI
    "302004C0 20C09813",    # BITMAP 3 4 11 22 25 26 35 41 42 49 52 53 60 63 64
    "000000",               # 3 processing code
    "000000120174",         # 4 amount 120174 fen
    "000042",               # 11 STAN
    "0210",                 # 22 "021" left-aligned
    "00",                   # 25
    "12",                   # 26
    "37 6222020000000000017D8A69033077F9D3DF50",  # 35 LL 37 digits, encrypted, pad 0
    T41, T42,               # 41, 42
    "313536",               # 49 "156"
    "19A0CBA88AC3FCF9",     # 52 PIN block
    "2610000000000000",     # 53 security control
    "0011 220000010000",    # 60 22 | 000001 | 000
    "0028 483D332D322D313230323B503D323032362D31302C323032362D3131",  # 63 bill reference
    "4245314437413141",     # 64 "BE1D7A1A"
)
PURCHASE_MSG = Message("0200", {
    3: "000000", 4: amount(Money(120174)), 11: "000042", 22: "021", 25: "00", 26: "12",
    35: TRACK_SENT, 41: TERMINAL, 42: MERCHANT, 49: "156", 52: PIN_BLOCK,
    53: security_control(track_encrypted=True),
    60: Field60(TYPE_PURCHASE, "000001", NET_FINANCIAL).encode(), 63: BILL_REF,
})

PURCHASE_REPLY = hexjoin(
    "006A",                 # LEN 106
    "6000000003",           # TPDU swapped
    "603100000000",         # HEADER, digit 6 = 0
    "0210",                 # MTI
    "303A0081 0EC08011",    # BITMAP 3 4 11 12 13 15 25 32 37 38 39 41 42 49 60 64
    "000000",               # 3
    "000000120174",         # 4
    "000042",               # 11
    "101530",               # 12
    "1205",                 # 13
    "1205",                 # 15
    "00",                   # 25
    "04 0104",              # 32
    "323631323035303030303432",  # 37 "261205000042"
    "313233343536",         # 38 "123456"
    "3030",                 # 39 "00"
    T41, T42,               # 41, 42
    "313536",               # 49
    "0011 220000010000",    # 60
    "3538303344393144",     # 64 "5803D91D"
)
PURCHASE_REPLY_MSG = Message("0210", {
    3: "000000", 4: "120174", 11: "42", 12: "101530", 13: "1205", 15: "1205", 25: "00", 32: "0104",
    37: "261205000042", 38: "123456", 39: "00", 41: TERMINAL, 42: MERCHANT, 49: "156", 60: "22000001000",
})

# --- (f) reversal -------------------------------------------------------------
REVERSAL = hexjoin(
    "005A",                 # LEN 90
    "6000030000",           # TPDU
    "603100000000",         # HEADER
    "0400",                 # MTI
    "30200480 02C08019",    # BITMAP 3 4 11 22 25 39 41 42 49 60 61 64
    "000000",               # 3 as the original
    "000000120174",         # 4 as the original
    "000042",               # 11 the original's STAN
    "0210",                 # 22
    "00",                   # 25
    "3938",                 # 39 reason "98" (no reply)
    T41, T42,               # 41, 42
    "313536",               # 49
    "0011 220000010000",    # 60 as the original
    "0016 0000010000421205",  # 61 batch 000001 | STAN 000042 | 1205
    "3346343544383841",     # 64 "3F45D88A"
)
REVERSAL_MSG = Message("0400", {
    3: "000000", 4: "000000120174", 11: "000042", 22: "021", 25: "00", 39: "98",
    41: TERMINAL, 42: MERCHANT, 49: "156", 60: "22000001000",
    61: Field61("000001", "000042", "1205").encode(),
})

REVERSAL_REPLY = hexjoin(
    "005B",                 # LEN 91
    "6000000003",           # TPDU swapped
    "603100000000",         # HEADER
    "0410",                 # MTI
    "30380000 0AC00011",    # BITMAP 3 4 11 12 13 37 39 41 42 60 64
    "000000",               # 3
    "000000120174",         # 4
    "000042",               # 11
    "101600",               # 12
    "1205",                 # 13
    "323631323035303030303433",  # 37 "261205000043"
    "3030",                 # 39
    T41, T42,               # 41, 42
    "0011 220000010000",    # 60
    "4636383244323444",     # 64 "F682D24D"
)
REVERSAL_REPLY_MSG = Message("0410", {
    3: "000000", 4: "000000120174", 11: "000042", 12: "101600", 13: "1205", 37: "261205000043", 39: "00",
    41: TERMINAL, 42: MERCHANT, 60: "22000001000",
})

# --- (g) settlement -----------------------------------------------------------
SETTLEMENT = hexjoin(
    "0067",                 # LEN 103
    "6000030000",           # TPDU
    "603100000000",         # HEADER
    "0500",                 # MTI
    "00200000 00C18013",    # BITMAP 11 41 42 48 49 60 63 64
    "000043",               # 11
    T41, T42,               # 41, 42
    "0062 000000120174 001 000000000000 000 0", FOREIGN,  # 48 LLL 62: debit 120174 x 001, credit 0 x 000, code 0, foreign
    "313536",               # 49
    "0011 000000012010",    # 60 00 | 000001 | 201
    "0002 3031",            # 63 operator "01"
    "4233434332393637",     # 64 "B3CC2967"
)
SETTLEMENT_MSG = Message("0500", {
    11: "000043", 41: TERMINAL, 42: MERCHANT, 48: Totals(Money(120174), 1).encode(), 49: "156",
    60: Field60(TYPE_MANAGEMENT, "000001", NET_SETTLEMENT).encode(), 63: "01",
})

SETTLEMENT_REPLY = hexjoin(
    "0075",                 # LEN 117
    "6000000003",           # TPDU swapped
    "603100000000",         # HEADER
    "0510",                 # MTI
    "003A0000 0AC10011",    # BITMAP 11 12 13 15 37 39 41 42 48 60 64
    "000043",               # 11
    "230000",               # 12
    "1205",                 # 13
    "1205",                 # 15
    "323631323035303030303434",  # 37 "261205000044"
    "3030",                 # 39
    T41, T42,               # 41, 42
    "0062 000000120174 001 000000000000 000 1", FOREIGN,  # 48 echoed, digit 31 = 1 (balanced)
    "0011 000000012010",    # 60
    "4244413541464442",     # 64 "BDA5AFDB"
)
SETTLEMENT_REPLY_MSG = Message("0510", {
    11: "000043", 12: "230000", 13: "1205", 15: "1205", 37: "261205000044", 39: "00",
    41: TERMINAL, 42: MERCHANT, 48: Totals(Money(120174), 1, code="1").encode(), 60: "00000001201",
})

# The page's one-line hex of every frame, as printed.
PAGE = {
    "0800": "003B600003000060310000000008000020000000C000120000014B494F534B303031383938343430333530313130303031001100000001004000023031",
    "0810": "008B60000000036031000000000810003800010AC00014000001080000120504010432363132303530303030303130304B494F534B303031383938343430333530313130303031001100000001004000609B3A7B883A100F73B4ABA2BB791C50E7D2B91CC55ADC39F46164960E17B9F1B1A1B2D33CE18DE25E00396833D152DA8EE9225CA7B2F0EF16DDB7368E",
    "0200": "009160000300006031000000000200302004C020C0981300000000000012017400004202100012376222020000000000017D8A69033077F9D3DF504B494F534B30303138393834343033353031313030303131353619A0CBA88AC3FCF9261000000000000000112200000100000028483D332D322D313230323B503D323032362D31302C323032362D31314245314437413141",
    "0210": "006A60000000036031000000000210303A00810EC08011000000000000120174000042101530120512050004010432363132303530303030343231323334353630304B494F534B30303138393834343033353031313030303131353600112200000100003538303344393144",
    "0400": "005A600003000060310000000004003020048002C0801900000000000012017400004202100039384B494F534B3030313839383434303335303131303030313135360011220000010000001600000100004212053346343544383841",
    "0410": "005B60000000036031000000000410303800000AC00011000000000000120174000042101600120532363132303530303030343330304B494F534B30303138393834343033353031313030303100112200000100004636383244323444",
    "0500": "0067600003000060310000000005000020000000C180130000434B494F534B3030313839383434303335303131303030310062000000120174001000000000000000000000000000000000000000000000003135360011000000012010000230314233434332393637",
    "0510": "007560000000036031000000000510003A00000AC100110000432300001205120532363132303530303030343430304B494F534B30303138393834343033353031313030303100620000001201740010000000000000001000000000000000000000000000000000110000000120104244413541464442",
}

# (frame written field by field, the message it holds, TPDU, MACed?)
FRAMES = {
    "0800": (SIGN_ON, SIGN_ON_MSG, REQUEST_TPDU, False),
    "0810": (SIGN_ON_REPLY, SIGN_ON_REPLY_MSG, REPLY_TPDU, False),
    "0200": (PURCHASE, PURCHASE_MSG, REQUEST_TPDU, True),
    "0210": (PURCHASE_REPLY, PURCHASE_REPLY_MSG, REPLY_TPDU, True),
    "0400": (REVERSAL, REVERSAL_MSG, REQUEST_TPDU, True),
    "0410": (REVERSAL_REPLY, REVERSAL_REPLY_MSG, REPLY_TPDU, True),
    "0500": (SETTLEMENT, SETTLEMENT_MSG, REQUEST_TPDU, True),
    "0510": (SETTLEMENT_REPLY, SETTLEMENT_REPLY_MSG, REPLY_TPDU, True),
}


@pytest.mark.parametrize("mti", sorted(FRAMES))
def test_the_field_by_field_hex_is_the_page_s(mti: str) -> None:
    frame = FRAMES[mti][0]
    assert frame.hex().upper() == PAGE[mti]
    assert int.from_bytes(frame[:2], "big") == len(frame) - 2


@pytest.mark.parametrize("mti", sorted(FRAMES))
def test_built_byte_for_byte(mti: str) -> None:
    frame, message, tpdu, maced = FRAMES[mti]
    built = wire.build(tpdu, HEADER, message, MAK if maced else None)
    assert built.hex().upper() == frame.hex().upper()


@pytest.mark.parametrize("mti", sorted(FRAMES))
def test_parsed_to_its_fields_and_mac_verified(mti: str) -> None:
    frame, message, tpdu, maced = FRAMES[mti]
    parsed = wire.parse(frame)
    assert (parsed.tpdu, parsed.header) == (tpdu, HEADER)
    fields = dict(parsed.message.fields)
    if maced:
        parsed.verify_mac(MAK)
        fields.pop(64)
    else:
        assert not parsed.has_mac
    # the parsed values are the canonical (zero-filled) ones the message packs to
    assert pack(Message(mti, fields)) == pack(message)
    assert wire.build(tpdu, HEADER, parsed.message) == frame   # built again as received


def test_sign_on_reply_field_62_carries_the_keys() -> None:
    # E(k) and CV(k) of each working key, as table (a) lists them
    assert ecb_encrypt(TMK, PIK).hex().upper() == "9B3A7B883A100F73B4ABA2BB791C50E7"
    assert ecb_encrypt(TMK, MAK).hex().upper() == "5ADC39F46164960E17B9F1B1A1B2D33C"
    assert ecb_encrypt(TMK, TDK).hex().upper() == "00396833D152DA8EE9225CA7B2F0EF16"
    assert [check_value(k).hex().upper() for k in (PIK, MAK, TDK)] == ["D2B91CC5", "E18DE25E", "DDB7368E"]
    assert encode_field62(TMK, KEYS) == FIELD62
    assert decode_field62(TMK, wire.parse(SIGN_ON_REPLY).message.data(62)) == KEYS


def test_pin_block_format_0_under_the_pik() -> None:
    clear = crypto.pin_block_format0(PIN, PAN)
    # PIN field 06123456FFFFFFFF XOR PAN field 0000000000000001
    assert clear.hex().upper() == "06123456FFFFFFFE"
    assert ecb_encrypt(PIK, clear).hex().upper() == "19A0CBA88AC3FCF9"


def test_track_2_encrypted_under_the_tdk() -> None:
    digits = TRACK2.replace("=", "D")
    assert digits == "6222020000000000017D30121010000012345" and len(digits) == 37
    # s[20:36] = 3012101000001234 -> 3DES-ECB(TDK) = 8A69033077F9D3DF
    assert ecb_encrypt(TDK, bytes.fromhex(digits[20:36])).hex().upper() == "8A69033077F9D3DF"
    sealed, encrypted = tracks.seal_track2(TDK, TRACK2)
    assert (sealed, encrypted) == (TRACK_SENT, True)
    # field 35 as sent: LL 37, the digits, a trailing 0 nibble
    assert pack(Message("0200", {35: sealed}))[10:] == hexjoin("37 6222020000000000017D8A69033077F9D3DF50")
    in_clear = pack(Message("0200", {35: digits}))[10:]
    assert in_clear == hexjoin("37 6222020000000000017D30121010000012345 0")
    assert tracks.open_track2(TDK, sealed, encrypted=True) == TRACK2


# The MAC steps of (d), (e), (f), (g): MAB length, R, A, B, C, D, E, field 64
MAC_STEPS = {
    "0200": (126, "F09B540734D1E270", "4C32725AAB147F21", "7F06366BEE264811", "BE1D7A1AE2BFD601"),
    "0210": (87, "E648412F01B46A91", "D34134FBDF90525D", "E37076CFE9D16B6C", "5803D91D7BD32F64"),
    "0400": (71, "A6124856319655BD", "FD030319D3B36AFB", "CE323A2FE68628BF", "3F45D88ACABCFCC1"),
    "0500": (84, "D25D0157470154A1", "98D3197987354F58", "ACE42948B2010E69", "B3CC29673C55B76E"),
    "0510": (98, "7115035F077252F7", "E044603327368EFC", "D07357011204C8CB", "BDA5AFDB53D68C65"),
}


@pytest.mark.parametrize("mti", sorted(MAC_STEPS))
def test_ecb_mac_steps(mti: str) -> None:
    size, r, c, d, e = MAC_STEPS[mti]
    mab = FRAMES[mti][0][13:-8]          # after LEN, TPDU, HEADER; before 64
    assert len(mab) == size
    steps = mac.ecb_steps(MAK, mab)
    assert steps.r.hex().upper() == r
    assert steps.a == r[:8].encode() and steps.b == r[8:].encode()
    assert (steps.c.hex().upper(), steps.d.hex().upper(), steps.e.hex().upper()) == (c, d, e)
    assert steps.field64 == e[:8].encode() == FRAMES[mti][0][-8:]


def test_page_mab_blocks_of_the_purchase() -> None:
    # (d) lists the padded MAB block by block: 126 bytes and two 00s
    blocks = ["0200302004C020C0", "9813000000000000", "1201740000420210", "0012376222020000",
              "000000017D8A6903", "3077F9D3DF504B49", "4F534B3030313839", "3834343033353031",
              "3130303031313536", "19A0CBA88AC3FCF9", "2610000000000000", "0011220000010000",
              "0028483D332D322D", "313230323B503D32", "3032362D31302C32", "3032362D31310000"]
    assert mac.pad(PURCHASE[13:-8]).hex().upper() == "".join(blocks)


def test_settlement_totals_and_balanced_echo() -> None:
    sent = Totals.parse(SETTLEMENT_MSG.text(48))
    assert (sent.debit, sent.debit_count, sent.credit, sent.credit_count) == (Money(120174), 1, Money(0), 0)
    assert not sent.balanced
    assert Totals.parse(wire.parse(SETTLEMENT_REPLY).message.text(48)).balanced
    assert Field61.parse(wire.parse(REVERSAL).message.text(61)) == Field61("000001", "000042", "1205")
    assert Field60.parse(wire.parse(PURCHASE).message.text(60)) == Field60("22", "000001", "000")
