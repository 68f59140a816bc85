"""Wire schema: host JSON -> domain objects. Anything malformed becomes
BadHostReply, so a broken host can never put a wrong figure on screen.
The bill reply carries only what the kiosk shows (docs/host-api.md "Bill
look-up"); fields beyond those are not read."""
from __future__ import annotations

from datetime import date
from typing import Any

from kiosk.domain.bill import Arrear, BillLine, HouseholdBill, MonthBill, TierCharge, UTILITIES
from kiosk.domain.errors import BadHostReply
from common.house import HouseNumber
from common.money import Money


def _fen(value: Any) -> Money:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"bad fen amount {value!r}")
    return Money(value)


def _text(value: Any, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    return value


def _line(raw: dict[str, Any]) -> BillLine:
    if raw["utility"] not in UTILITIES:
        raise ValueError(f"unknown utility {raw['utility']!r}")
    tiers = tuple(
        TierCharge(int(t["tier"]), _text(t["quantity"]), _text(t["unit_price"]), _fen(t["amount_fen"]))
        for t in raw["tiers"]
    )
    line = BillLine(
        utility=raw["utility"], unit=_text(raw["unit"]),
        previous_reading=_text(raw["previous_reading"], optional=True),
        current_reading=_text(raw["current_reading"], optional=True),
        usage=_text(raw["usage"]), tiers=tiers, amount=_fen(raw["amount_fen"]),
    )
    if sum(t.amount.fen for t in tiers) != line.amount.fen:
        raise ValueError(f"{line.utility}: tiers do not add up to the line amount")
    return line


def _month(raw: dict[str, Any]) -> MonthBill:
    return MonthBill(
        period=_text(raw["period"]),
        due_on=date.fromisoformat(raw["due_on"]),
        paid=bool(raw["paid"]),
        amount=_fen(raw["amount_fen"]),
        lines=tuple(_line(line) for line in raw["lines"]),
    )


def parse_household_bill(raw: Any) -> HouseholdBill:
    try:
        bill = HouseholdBill(
            house=HouseNumber.parse(raw["house_no"]),
            estate=_text(raw["estate"]),
            area_m2=_text(raw["area_m2"]),
            as_of=date.fromisoformat(raw["as_of"]),
            current=_month(raw["current"]) if raw.get("current") else None,
            arrears=tuple(
                Arrear(_text(a["period"]), date.fromisoformat(a["due_on"]), int(a["days_overdue"]),
                       _fen(a["amount_fen"]), _fen(a["late_fee_fen"]))
                for a in raw["arrears"]
            ),
            late_fee=_fen(raw["late_fee_fen"]),
            total_due=_fen(raw["total_due_fen"]),
        )
        bill.check()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadHostReply(f"bill reply: {exc}") from exc
    return bill
