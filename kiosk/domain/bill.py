"""A household's combined bill as the kiosk shows it (parsed from the host's reply)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from common.house import HouseNumber
from common.money import Money, total

UTILITIES = ("water", "electricity", "gas", "property")


@dataclass(frozen=True, slots=True)
class TierCharge:
    tier: int             # 1-based tier of a tiered (阶梯) tariff
    quantity: str         # decimal text, e.g. "15.00"
    unit_price: str       # yuan per unit, decimal text, e.g. "3.45"
    amount: Money


@dataclass(frozen=True, slots=True)
class BillLine:
    utility: str          # one of UTILITIES
    unit: str             # "m3", "kWh" or "m2"
    previous_reading: str | None
    current_reading: str | None
    usage: str
    tiers: tuple[TierCharge, ...]
    amount: Money


@dataclass(frozen=True, slots=True)
class MonthBill:
    period: str           # "YYYY-MM"
    due_on: date
    paid: bool
    amount: Money
    lines: tuple[BillLine, ...]


@dataclass(frozen=True, slots=True)
class Arrear:
    period: str
    due_on: date
    days_overdue: int
    amount: Money
    late_fee: Money


@dataclass(frozen=True, slots=True)
class HouseholdBill:
    """Everything a resident needs to decide to pay: the latest month itemized,
    unpaid earlier months, the late fee and the total due."""

    house: HouseNumber
    estate: str
    area_m2: str
    as_of: date
    current: MonthBill | None     # latest billed month, paid or not
    arrears: tuple[Arrear, ...]   # unpaid months before the current one
    late_fee: Money               # over every overdue unpaid month, current included
    total_due: Money
    # paid at this kiosk, its backup copy not yet with the property host: shown
    # paid, never offered for payment again (kiosk.services.bills)
    upload_pending: bool = False

    @property
    def current_due(self) -> Money:
        if self.current is None or self.current.paid:
            return Money.zero()
        return self.current.amount

    @property
    def arrears_total(self) -> Money:
        return total([a.amount for a in self.arrears])

    @property
    def nothing_due(self) -> bool:
        return self.total_due.fen == 0

    def check(self) -> None:
        """The parts must add up to the total, to the fen; a reply that does not
        is refused rather than shown."""
        parts = self.current_due + self.arrears_total + self.late_fee
        if parts != self.total_due:
            raise ValueError(f"bill parts {parts.fen} != total {self.total_due.fen}")
        if self.current is not None:
            lines = total([line.amount for line in self.current.lines])
            if lines != self.current.amount:
                raise ValueError(f"line items {lines.fen} != month {self.current.amount.fen}")
