"""Malformed frames and values raise a typed WireError (never an IndexError or a
library's own error), and whatever we build parses back to itself."""
from __future__ import annotations

import pytest
from Crypto.Cipher import DES

from common.bank8583 import mac, tracks, wire
from common.bank8583.codec import Message, pack, unpack
from common.bank8583.errors import (
    BadFieldValue, BadLength, BadMac, FieldTooLong, KeyCheckFailed, Truncated, UnknownField, WireError,
)
from common.bank8583.fields import Totals, balance, parse_balance, security_control, track_encrypted, upload_count
from common.bank8583.framing import Header, Tpdu, decode_frame
from common.bank8583.keys import WorkingKeys, decode_field62, ecb_encrypt, encode_field62
from common.money import Money
from tests.support.bank8583 import (
    HEADER, KEYS, MAK, MERCHANT, REPLY_TPDU, REQUEST_TPDU, TDK, TERMINAL, TMK, TRACK2, hexjoin,
)

# The purchase of BANK-8583-examples.md (d), 147 bytes.
PURCHASE = bytes.fromhex(
    "009160000300006031000000000200302004C020C0981300000000000012017400004202100012376222020000000000017D8A"
    "69033077F9D3DF504B494F534B30303138393834343033353031313030303131353619A0CBA88AC3FCF9261000000000000000"
    "112200000100000028483D332D322D313230323B503D323032362D31302C323032362D31314245314437413141")
# Its sign-on (a), 61 bytes: no MAC, so single bytes can be changed and parsed again.
SIGN_ON = hexjoin(
    "003B 6000030000 603100000000",   # LEN, TPDU, HEADER
    "0800 0020000000C00012",          # MTI, BITMAP 11 41 42 60 63
    "000001",                         # 11
    "4B494F534B303031",               # 41
    "383938343430333530313130303031",  # 42
    "0011 000000010040",              # 60 LLL 11, pad 0
    "0002 3031",                      # 63
)
BODY_AT = 13   # LEN 2 + TPDU 5 + HEADER 6


def relen(rest: bytes) -> bytes:
    """TPDU ‖ HEADER ‖ body under a LEN that matches it."""
    return len(rest).to_bytes(2, "big") + rest


def test_a_frame_cut_anywhere_is_truncated() -> None:
    for cut in range(len(PURCHASE)):
        with pytest.raises(Truncated):      # LEN itself cut, or LEN announcing more than came
            wire.parse(PURCHASE[:cut])


def test_every_failure_is_a_wire_error() -> None:
    # one tree for the caller to catch: each class is a WireError and a ValueError
    for cls in (Truncated, BadLength, UnknownField, FieldTooLong, BadFieldValue, BadMac, KeyCheckFailed):
        assert issubclass(cls, WireError) and issubclass(cls, ValueError)


def test_a_body_cut_anywhere_under_a_matching_len_is_truncated() -> None:
    for cut in range(BODY_AT, len(PURCHASE)):
        frame = relen(PURCHASE[2:cut])
        expected = BadLength if cut - BODY_AT < 10 else Truncated   # less than MTI and bitmap: LEN too short
        with pytest.raises(expected):
            wire.parse(frame)


def test_bad_length_prefixes() -> None:
    with pytest.raises(Truncated):                # LEN says one more byte than came
        wire.parse((len(PURCHASE) - 1).to_bytes(2, "big") + PURCHASE[2:])
    with pytest.raises(BadLength):                # bytes after the frame LEN announces
        wire.parse(PURCHASE + b"\x00")
    with pytest.raises(BadLength):                # LEN shorter than TPDU, header, MTI and bitmap
        wire.parse(b"\x00\x05" + PURCHASE[2:7])
    with pytest.raises(BadLength):                # LEN and bytes agree, but the fields end before
        wire.parse(relen(PURCHASE[2:] + b"\x00"))
    # 35's LL is not BCD (3A)
    at = PURCHASE.index(bytes.fromhex("376222"))
    with pytest.raises(BadLength) as caught:
        wire.parse(PURCHASE[:at] + b"\x3a" + PURCHASE[at + 1:])
    assert caught.value.field == "35"
    # 35's LL says 38 digits: more than z..37 allows
    with pytest.raises(FieldTooLong) as too_long:
        wire.parse(PURCHASE[:at] + b"\x38" + PURCHASE[at + 1:])
    assert too_long.value.field == "35"


def test_a_bitmap_naming_a_field_the_spec_lacks() -> None:
    bitmap_at = BODY_AT + 2
    field5 = bytearray(SIGN_ON)
    field5[bitmap_at] |= 0x08                     # bit 5
    with pytest.raises(UnknownField) as caught:
        wire.parse(bytes(field5))
    assert caught.value.field == "5"
    secondary = bytearray(SIGN_ON)
    secondary[bitmap_at] |= 0x80                  # bit 1: no secondary bitmap on this link
    with pytest.raises(UnknownField) as second:
        wire.parse(bytes(secondary))
    assert second.value.field == "bitmap"
    with pytest.raises(UnknownField):
        pack(Message("0800", {5: "000000000001"}))


def test_fields_too_long_are_refused_when_built() -> None:
    for number, value in ((4, "1" * 13), (41, "KIOSK0001"), (32, "1" * 12), (62, bytes(513)),
                          (63, "号" * 82), (35, "1" * 38), (48, "0" * 323)):
        with pytest.raises(FieldTooLong) as caught:
            pack(Message("0200", {number: value}))
        assert caught.value.field == str(number)
    # 63 counts GB18030 bytes, not characters: 81 two-byte characters fit in 163
    assert unpack(pack(Message("0200", {63: "号" * 81}))).fields[63] == "号" * 81


def test_non_digits_in_numeric_fields() -> None:
    for number, value in ((4, "12A4"), (11, "00004 "), (60, "2200000100X"), (3, "３１００００")):
        with pytest.raises(BadFieldValue) as caught:
            pack(Message("0200", {number: value}))
        assert caught.value.field == str(number)
    with pytest.raises(BadFieldValue):
        pack(Message("02A0", {}))
    # received: STAN 00 00 0A
    at = BODY_AT + 10
    with pytest.raises(BadFieldValue) as got:
        wire.parse(SIGN_ON[:at] + bytes.fromhex("00000A") + SIGN_ON[at + 3:])
    assert got.value.field == "11"
    with pytest.raises(BadFieldValue) as mti:
        wire.parse(SIGN_ON[:BODY_AT] + bytes.fromhex("080A") + SIGN_ON[BODY_AT + 2:])
    assert mti.value.field == "MTI"


def test_other_bad_values() -> None:
    with pytest.raises(BadFieldValue):
        pack(Message("0200", {52: "19A0CBA88AC3FCF9"}))   # b takes bytes
    with pytest.raises(BadFieldValue):
        pack(Message("0200", {52: bytes(7)}))             # b8 is 8 bytes
    with pytest.raises(BadFieldValue):
        pack(Message("0200", {41: "KIOSK00é"}))           # ans is ASCII
    with pytest.raises(BadFieldValue):
        pack(Message("0200", {39: "0-"}))                  # an: letters and digits
    with pytest.raises(BadFieldValue):
        pack(Message("0200", {22: "21"}))                  # 22 is not zero-filled: 3 digits
    with pytest.raises(BadFieldValue):                     # TPDU id other than 60
        decode_frame(SIGN_ON[:2] + b"\x61" + SIGN_ON[3:])
    with pytest.raises(BadFieldValue):                     # header not BCD
        decode_frame(SIGN_ON[:7] + b"\x6a" + SIGN_ON[8:])
    with pytest.raises(BadFieldValue):
        Tpdu("003", "0000")


def test_an_f_pad_nibble_is_accepted_and_no_other() -> None:
    at = SIGN_ON.index(bytes.fromhex("000000010040"))
    f_pad = SIGN_ON[:at] + bytes.fromhex("00000001004F") + SIGN_ON[at + 6:]
    assert wire.parse(f_pad).message.fields[60] == "00000001004"
    bad_pad = SIGN_ON[:at] + bytes.fromhex("000000010045") + SIGN_ON[at + 6:]
    with pytest.raises(BadFieldValue) as caught:
        wire.parse(bad_pad)
    assert caught.value.field == "60"


def test_a_changed_byte_fails_the_mac() -> None:
    parsed = wire.parse(PURCHASE)
    parsed.verify_mac(MAK)
    at = PURCHASE.index(bytes.fromhex("120174"))
    tampered = wire.parse(PURCHASE[:at] + bytes.fromhex("120175") + PURCHASE[at + 3:])
    with pytest.raises(BadMac):
        tampered.verify_mac(MAK)
    with pytest.raises(BadMac):
        parsed.verify_mac(KEYS.pik)                         # another key
    with pytest.raises(BadMac):
        parsed.verify_mac(MAK, "x919")                      # the other algorithm
    with pytest.raises(BadMac):
        wire.parse(SIGN_ON).verify_mac(MAK)                 # no 64 at all


def test_a_bad_check_value_fails_the_whole_sign_on() -> None:
    field62 = encode_field62(TMK, KEYS)
    assert decode_field62(TMK, field62) == KEYS
    for at in (16, 36, 56, 0, 20, 40):                      # each CV, each E(k)
        broken = bytearray(field62)
        broken[at] ^= 0x01
        with pytest.raises(KeyCheckFailed):
            decode_field62(TMK, bytes(broken))
    with pytest.raises(BadFieldValue):
        decode_field62(TMK, field62[:59])


def test_a_single_length_key_is_k_k_and_encrypts_as_single_des() -> None:
    k = bytes.fromhex("0123456789ABCDEF")
    assert ecb_encrypt(k + k, bytes(8)) == DES.new(k, DES.MODE_ECB).encrypt(bytes(8))
    keys = WorkingKeys(k + k, k + k, k + k)
    assert decode_field62(TMK, encode_field62(TMK, keys)) == keys
    frame = wire.build(REQUEST_TPDU, HEADER, echo(), k + k)
    wire.parse(frame).verify_mac(k + k)


def echo() -> Message:
    return Message("0820", {11: "000007", 41: TERMINAL, 42: MERCHANT, 60: "00000001301"})


ROUND_TRIPS = [
    echo(),
    # balance inquiry reply: 54 carries the balance
    Message("0210", {3: "310000", 11: "000008", 12: "101530", 13: "1205", 32: "0104", 37: "261205000008",
                     39: "00", 41: TERMINAL, 42: MERCHANT, 49: "156", 54: balance(Money(987654)),
                     60: "01000001000"}),
    # PIN change: 62 is the new PIN block (LLL 008)
    Message("0100", {3: "700000", 11: "000009", 22: "021", 25: "00", 26: "12",
                     35: tracks.seal_track2(TDK, TRACK2)[0], 41: TERMINAL, 42: MERCHANT, 49: "156",
                     52: bytes.fromhex("19A0CBA88AC3FCF9"), 53: security_control(True),
                     60: "70000001000", 62: bytes.fromhex("0123456789ABCDEF")}),
    # declined with tries left in 63, no 38
    Message("0210", {3: "000000", 4: "000000000100", 11: "000010", 39: "55", 41: TERMINAL, 42: MERCHANT,
                     60: "22000001000", 63: "T=2"}),
    # batch upload and end of upload
    Message("0320", {4: "000000120174", 11: "000044", 37: "261205000042", 41: TERMINAL, 42: MERCHANT,
                     60: "00000001201", 61: "0000010000421205"}),
    Message("0320", {11: "000045", 41: TERMINAL, 42: MERCHANT, 48: upload_count(1), 60: "00000001202"}),
    # an even-length and a short (clear) track
    Message("0200", {35: "6222020000000000017D3012101000001234"}),
    Message("0200", {35: "1234567890D1234"}),
    # a Chinese bill reference, and field 2 (in the table, never sent by us)
    Message("0200", {2: "6222020000000000017", 63: "H=3-2-1202;户主=张三"}),
]


@pytest.mark.parametrize("message", ROUND_TRIPS, ids=lambda m: m.mti)
@pytest.mark.parametrize("algorithm", mac.ALGORITHMS)
def test_parse_of_build_is_the_message(message: Message, algorithm: mac.MacAlgorithm) -> None:
    header = Header(terminal_status="1", processing="3")
    frame = wire.build(REPLY_TPDU, header, message, MAK, algorithm)
    parsed = wire.parse(frame)
    assert (parsed.tpdu, parsed.header, parsed.header.sign_on_required) == (REPLY_TPDU, header, True)
    parsed.verify_mac(MAK, algorithm)
    fields = dict(parsed.message.fields)
    fields.pop(64)
    assert Message(parsed.message.mti, fields) == message
    assert wire.parse(wire.build(REPLY_TPDU, header, message)).message == message   # without a MAC


def test_zero_fill_and_space_pad_of_fixed_fields() -> None:
    packed = pack(Message("0200", {4: "120174", 11: "42", 41: "K1"}))
    assert unpack(packed).fields == {4: "000000120174", 11: "000042", 41: "K1      "}


def test_tracks_short_even_and_wrong_key() -> None:
    assert tracks.seal_track2(TDK, "1234567890=123") == ("1234567890D123", False)   # < 17: in clear
    even = "6222020000000000017=3012101000001234"                                   # L = 36
    sealed, encrypted = tracks.seal_track2(TDK, even)
    assert encrypted and len(sealed) == 36 and sealed[-2:] == "34" and sealed[:16] == "6222020000000000"
    assert tracks.open_track2(TDK, sealed, True) == even
    with pytest.raises(BadFieldValue):
        tracks.open_track2(MAK, tracks.seal_track2(TDK, TRACK2)[0], True)
    with pytest.raises(BadFieldValue):
        tracks.seal_track2(TDK, "6222020000000000017")                              # no separator


def test_fields_48_53_54() -> None:
    totals = Totals(Money(120174), 1, code="2")
    assert Totals.parse(totals.encode()) == totals and not totals.balanced
    assert len(totals.encode()) == 62
    assert track_encrypted(security_control(False)) is False
    assert balance(Money(987654)) == "1002156C000000987654"
    assert parse_balance("1002156D000000000100") == Money(-100)
    with pytest.raises(BadFieldValue):
        parse_balance("1002840C000000000100")
    with pytest.raises(BadFieldValue):
        track_encrypted("2690000000000000")
