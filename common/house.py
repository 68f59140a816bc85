"""House numbers: building-unit-room, e.g. 3-2-1202."""
from __future__ import annotations

import re
from dataclasses import dataclass

from common.errors import BadHouseNumber

_PATTERN = re.compile(r"^(\d{1,3})-(\d{1,2})-(\d{3,4})$", re.ASCII)   # ASCII: int("٢") == 2


@dataclass(frozen=True, slots=True)
class HouseNumber:
    building: int
    unit: int
    room: str  # kept as text: "0301" and "301" are different doors on some estates

    @classmethod
    def parse(cls, text: str) -> HouseNumber:
        match = _PATTERN.match(text.strip())
        if not match:
            raise BadHouseNumber(text)
        building, unit, room = match.groups()
        if int(building) == 0 or int(unit) == 0:
            raise BadHouseNumber(text)
        return cls(int(building), int(unit), room)

    def __str__(self) -> str:
        return f"{self.building}-{self.unit}-{self.room}"


def is_plausible_prefix(text: str) -> bool:
    """True while `text` could still grow into a valid house number (keypad guard)."""
    return text == "" or re.fullmatch(r"\d{1,3}(-(\d{1,2}(-\d{0,4})?)?)?", text, re.ASCII) is not None
