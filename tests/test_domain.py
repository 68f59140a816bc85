from decimal import Decimal

import pytest

from common.errors import BadHouseNumber
from common.house import HouseNumber, is_plausible_prefix
from common.money import Money, total


def test_money_is_integer_fen_only():
    with pytest.raises(TypeError):
        Money(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True)  # type: ignore[arg-type]
    assert Money(150) + Money(25) == Money(175)
    assert total([Money(1), Money(2), Money(3)]) == Money(6)


@pytest.mark.parametrize("yuan, fen", [("0.005", 1), ("0.0049", 0), ("1.115", 112), ("87.885", 8789),
                                       ("-0.005", -1), ("22375", 2237500)])
def test_money_rounds_half_up_to_the_fen(yuan, fen):
    assert Money.from_decimal(Decimal(yuan)).fen == fen


def test_money_text():
    assert Money(123456).display() == "¥1,234.56"
    assert Money(5).yuan == "0.05"
    assert Money(-5).yuan == "-0.05"
    assert Money.parse("12.30") == Money(1230)
    with pytest.raises(ValueError):
        Money.parse("1.001")


@pytest.mark.parametrize("text", ["3-2-1202", "12-1-301", " 3-2-1202 ", "101-12-0301"])
def test_house_number_accepts(text):
    assert str(HouseNumber.parse(text)) == text.strip()


@pytest.mark.parametrize("text", ["", "3-2", "3--1202", "3-2-12", "0-2-1202", "3-0-1202", "a-b-c",
                                  "3-2-12022", "1234-1-101", "3-2-1202-1", "3/2/1202"])
def test_house_number_rejects(text):
    with pytest.raises(BadHouseNumber):
        HouseNumber.parse(text)


def test_keypad_prefix_guard():
    for ok in ["", "3", "3-", "3-2-", "3-2-120", "3-2-1202"]:
        assert is_plausible_prefix(ok), ok
    for bad in ["-", "3--", "3-2-12021", "1234", "3-123"]:
        assert not is_plausible_prefix(bad), bad
