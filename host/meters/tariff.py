"""Prepaid tariffs: a quantity priced across tiers by what the meter has
already bought in the calendar year. Quantities are integer hundredths of a
unit; each tier line is rounded half up to the fen in one place (`line_fen`),
and an amount buys the largest quantity whose price does not exceed it."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from common.meter_card import MAX_QUANTITY


@dataclass(frozen=True, slots=True)
class QuoteLine:
    tier: int             # 1-based
    quantity: int         # 0.01 units
    unit_price: str       # yuan per unit, as configured
    amount_fen: int

    def wire(self) -> dict[str, Any]:
        return {"tier": self.tier, "quantity": self.quantity, "unit_price": self.unit_price,
                "amount_fen": self.amount_fen}


def line_fen(quantity: int, price: Decimal) -> int:
    """The one rounding: hundredths of a unit × yuan per unit -> fen, half up."""
    return int((Decimal(quantity) * price).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def quote(tiers: tuple[Any, ...], bought: int, quantity: int) -> tuple[QuoteLine, ...]:
    """`quantity` priced after `bought` this year (both 0.01 units). Tier n holds
    the year's purchases in (up_to[n-1], up_to[n]] units."""
    lines: list[QuoteLine] = []
    position, left = bought, quantity
    for number, tier in enumerate(tiers, start=1):
        end = None if tier.up_to is None else int(tier.up_to * 100)
        if end is not None and position >= end:
            continue
        take = left if end is None else min(left, end - position)
        lines.append(QuoteLine(number, take, tier.price_text, line_fen(take, tier.price)))
        position, left = position + take, left - take
        if left == 0:
            break
    return tuple(lines)


def amount_of(lines: tuple[QuoteLine, ...]) -> int:
    return sum(line.amount_fen for line in lines)


def quantity_for(tiers: tuple[Any, ...], bought: int, amount_fen: int, ceiling: int = MAX_QUANTITY) -> int:
    """The largest quantity (<= ceiling) whose price is at most `amount_fen`; 0 if none."""
    low, high = 0, ceiling
    while low < high:          # the price never falls as the quantity grows
        middle = (low + high + 1) // 2
        if amount_of(quote(tiers, bought, middle)) <= amount_fen:
            low = middle
        else:
            high = middle - 1
    return low
