"""Known-answer tests from published vectors."""
import pytest

from common.crypto import (CryptoError, kcv, mac_pboc, mac_x919, pin_block_format0, pin_from_block_format0,
                           unwrap_key, wrap_key)

NOW_IS_THE_TIME = b"Now is the time for all "   # the FIPS 113 / ANSI X9.9 message


def test_x919_mac_published_vector():
    # ANSI X9.19 example: K1 = 0123456789ABCDEF, K2 = FEDCBA9876543210
    key = bytes.fromhex("0123456789ABCDEF" "FEDCBA9876543210")
    assert mac_x919(key, NOW_IS_THE_TIME).hex().upper() == "A1C72E74EA3FA9B6"


def test_x919_with_k1_equal_k2_is_the_x99_single_des_mac():
    # FIPS 113 / X9.9: single-DES CBC-MAC of the same message = 70A30640CC76DD8B;
    # X9.19 with K2 == K1 collapses to it (decrypt then encrypt under K1 cancels).
    key = bytes.fromhex("0123456789ABCDEF" * 2)
    assert mac_x919(key, NOW_IS_THE_TIME).hex().upper() == "70A30640CC76DD8B"


def test_iso9564_format0_published_vector():
    # ISO 9564-1 format 0 example: PIN 1234, PAN 43219876543210987
    block = pin_block_format0("1234", "43219876543210987")
    assert block.hex().upper() == "0412AC89ABCDEF67"
    assert pin_from_block_format0(block, "43219876543210987") == "1234"


def test_format0_six_digit_pin_round_trip_and_wrong_pan():
    pan = "6222021234567890128"
    block = pin_block_format0("123456", pan)
    assert pin_from_block_format0(block, pan) == "123456"
    with pytest.raises(CryptoError):
        pin_from_block_format0(block, "6222021234567890110")


def test_key_check_value_and_wrapping():
    # KCV of the well-known double-length test key 0123456789ABCDEFFEDCBA9876543210 is 08D7B4
    master = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    assert kcv(master).hex().upper() == "08D7B4"
    working = bytes.fromhex("11223344556677888877665544332211")
    wrapped = wrap_key(master, working)
    assert unwrap_key(master, wrapped, kcv(working)) == working
    with pytest.raises(CryptoError):
        unwrap_key(master, wrapped, b"\x00\x00\x00")


def test_pboc_mac_folds_a_double_length_key():
    key16 = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    folded = bytes(a ^ b for a, b in zip(key16[:8], key16[8:]))
    assert mac_pboc(key16, b"\x00\x00\x10\x00") == mac_pboc(folded, b"\x00\x00\x10\x00")
    assert len(mac_pboc(folded, b"")) == 4
