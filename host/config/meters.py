"""[meters] and [prepaid_tariffs.*] in the host config (issue 15, docs/host.md):
the meter key masters MKP, MKR, MKU (the vending host is the only holder
besides the meters themselves) and the prepaid tariffs, tiered by what a meter
has bought in the calendar year, with each utility's hoarding maximum."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from common.meter_card import MAX_UNITS
from common.meter_keys import MeterKeys
from common.settings import Section

PREPAID_UTILITIES = ("electricity", "water", "gas")


@dataclass(frozen=True, slots=True)
class PrepaidTariff:
    utility: str
    tiers: tuple[Any, ...]         # host.config.Tier, up_to = units bought in the calendar year
    hoarding_max: int              # the default maximum of this utility's meters, 0.01 units


@dataclass(frozen=True, slots=True)
class MeterSettings:
    keys: MeterKeys                            # the masters; its repr never shows them
    tariffs: tuple[PrepaidTariff, ...]

    def tariff(self, utility: str) -> PrepaidTariff:
        for tariff in self.tariffs:
            if tariff.utility == utility:
                return tariff
        raise KeyError(utility)


def load_meter_settings(root: Section, keys: dict[str, bytes] | None,
                        tiers: Callable[[Section], tuple[Any, ...]]) -> MeterSettings | None:
    """None without a [meters] section (the host vends no units: its meter routes
    answer 503 meters_off). With it, [prepaid_tariffs.<utility>] is required for
    each of electricity, water and gas: `tiers` as the monthly tariffs' (up_to in
    units bought this calendar year) and `hoarding_max` (units, at most 2 places)."""
    if keys is None:
        return None
    section = root.section("prepaid_tariffs", required=True)
    found: list[PrepaidTariff] = []
    for utility in PREPAID_UTILITIES:
        part = section.section(utility, required=True)
        parsed = tiers(part)
        text = part.get("hoarding_max", str, check=_units)
        part.reject_unknown()
        found.append(PrepaidTariff(utility, parsed, int(Decimal(text) * 100)))
    section.reject_unknown()
    return MeterSettings(MeterKeys(pk=keys["mkp"], rk=keys["mkr"], uk=keys["mku"]), tuple(found))


def _units(value: str) -> str | None:
    try:
        units = Decimal(value)
    except InvalidOperation:
        units = Decimal(-1)
    if not units.is_finite() or units <= 0 or units != units.quantize(Decimal("0.01")) or units * 100 > MAX_UNITS:
        return 'must be a positive number of units in quotes with at most 2 places, e.g. "2000"'
    return None
