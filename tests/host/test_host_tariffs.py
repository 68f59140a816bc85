"""Tier splitting and pricing: boundaries exact, half-up rounding per tier."""
from decimal import Decimal

import pytest

from host.config import Tier
from host.tariffs import line_amount, price_usage

ELECTRICITY = (Tier(Decimal(180), Decimal("0.4883"), "0.4883"),
               Tier(Decimal(350), Decimal("0.5383"), "0.5383"),
               Tier(None, Decimal("0.7883"), "0.7883"))
WATER = (Tier(Decimal(15), Decimal("5.00"), "5.00"), Tier(Decimal(22), Decimal("7.00"), "7.00"),
         Tier(None, Decimal("9.00"), "9.00"))
GAS = (Tier(None, Decimal("2.63"), "2.63"),)


def charges(usage: str, tiers: tuple[Tier, ...]) -> list[tuple[int, str, int]]:
    return [(c.tier, str(c.quantity), c.amount.fen) for c in price_usage(Decimal(usage), tiers)]


def test_usage_exactly_at_a_boundary_stays_in_the_lower_tier() -> None:
    assert charges("180.00", ELECTRICITY) == [(1, "180.00", 8789)]       # 87.894 yuan
    assert charges("350", ELECTRICITY) == [(1, "180.00", 8789), (2, "170.00", 9151)]   # 91.511
    assert charges("15", WATER) == [(1, "15.00", 7500)]


def test_one_hundredth_over_a_boundary_goes_to_the_next_tier() -> None:
    # 0.01 kWh x 0.5383 = 0.005383 yuan = 0.5383 fen -> 1 fen
    assert charges("180.01", ELECTRICITY) == [(1, "180.00", 8789), (2, "0.01", 1)]
    assert charges("15.01", WATER) == [(1, "15.00", 7500), (2, "0.01", 7)]
    assert charges("350.01", ELECTRICITY)[-1] == (3, "0.01", 1)


def test_three_tiers_and_half_up_rounding() -> None:
    # 50 x 0.7883 = 39.415 yuan -> 3941.5 fen -> 3942 (half up)
    result = price_usage(Decimal("400.00"), ELECTRICITY)
    assert [(c.tier, str(c.quantity), c.amount.fen) for c in result] == [
        (1, "180.00", 8789), (2, "170.00", 9151), (3, "50.00", 3942)]
    assert line_amount(result).fen == 8789 + 9151 + 3942
    # 7 x 7.00 + 0.5 x 9.00 on top of the first tier
    assert charges("22.50", WATER) == [(1, "15.00", 7500), (2, "7.00", 4900), (3, "0.50", 450)]


def test_half_a_fen_rounds_up_not_to_even() -> None:
    tiers = (Tier(None, Decimal("1.05"), "1.05"),)
    assert charges("10.50", tiers) == [(1, "10.50", 1103)]     # 11.025 yuan; banker's would give 1102


def test_the_doc_example_electricity_line() -> None:
    result = price_usage(Decimal("222.20"), ELECTRICITY)
    assert [c.wire() for c in result] == [
        {"tier": 1, "quantity": "180.00", "unit_price": "0.4883", "amount_fen": 8789},
        {"tier": 2, "quantity": "42.20", "unit_price": "0.5383", "amount_fen": 2272}]
    assert line_amount(result).fen == 11061


def test_gas_single_tier_and_property_fee_per_m2() -> None:
    assert charges("9.18", GAS) == [(1, "9.18", 2414)]                        # 24.1434 yuan
    assert charges("1000", GAS) == [(1, "1000.00", 263000)]
    property_fee = (Tier(None, Decimal("2.50"), "2.50"),)
    assert charges("89.50", property_fee) == [(1, "89.50", 22375)]             # 223.75 yuan
    assert charges("143.27", property_fee) == [(1, "143.27", 35818)]           # 358.175 -> half up


def test_zero_usage_shows_the_first_tier_at_zero() -> None:
    assert charges("0", ELECTRICITY) == [(1, "0.00", 0)]


def test_negative_usage_is_refused() -> None:
    with pytest.raises(ValueError):
        price_usage(Decimal("-0.01"), GAS)
