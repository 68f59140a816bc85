"""Pure domain types: no I/O, no framework imports."""
from kiosk.domain.money import Money
from kiosk.domain.house import HouseNumber

__all__ = ["Money", "HouseNumber"]
