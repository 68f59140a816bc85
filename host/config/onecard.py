"""[onecard] in the host config: the unpaid-fee blacklist's rule
(docs/onecard.md "Unpaid-fee blacklist")."""
from __future__ import annotations

from dataclasses import dataclass

from common.settings import Section


@dataclass(frozen=True, slots=True)
class OneCardSettings:
    # a household whose property fee is still unpaid more than this many days
    # after its due date is listed, and its one-cards with it
    unpaid_days: int = 30


def load_onecard_settings(section: Section) -> OneCardSettings:
    settings = OneCardSettings(
        unpaid_days=section.get("unpaid_days", int, 30,
                                check=lambda v: None if 0 <= v <= 3650 else "must be 0..3650 days"))
    section.reject_unknown()
    return settings
