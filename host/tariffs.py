"""Pure tariff arithmetic: split a month's usage into tiers (阶梯) and price each
tier, rounding half up to the fen per tier. Decimal in, integer fen out."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from host.config import Tier
from common.money import Money

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class TierCharge:
    tier: int             # 1-based
    quantity: Decimal     # two places
    unit_price: str       # as configured
    amount: Money

    def wire(self) -> dict[str, object]:
        return {"tier": self.tier, "quantity": str(self.quantity),
                "unit_price": self.unit_price, "amount_fen": self.amount.fen}


def price_usage(usage: Decimal, tiers: tuple[Tier, ...]) -> tuple[TierCharge, ...]:
    """Tier n covers (up_to[n-1], up_to[n]]: usage exactly at a boundary stays in
    the lower tier. Zero usage gives one empty tier-1 charge so the price shows."""
    if usage < 0:
        raise ValueError(f"negative usage {usage}")
    usage = usage.quantize(CENT)
    charges: list[TierCharge] = []
    lower = Decimal(0)
    for number, tier in enumerate(tiers, start=1):
        upper = usage if tier.up_to is None else min(usage, tier.up_to)
        quantity = upper - lower
        if quantity <= 0 and charges:
            break
        quantity = max(quantity, Decimal(0)).quantize(CENT)
        charges.append(TierCharge(number, quantity, tier.price_text, Money.from_decimal(quantity * tier.price)))
        if tier.up_to is None or usage <= tier.up_to:
            break
        lower = tier.up_to
    return tuple(charges)


def line_amount(charges: tuple[TierCharge, ...]) -> Money:
    return Money(sum(c.amount.fen for c in charges))
