"""Pure domain types: no I/O, no framework imports."""
from common.money import Money
from common.house import HouseNumber

__all__ = ["Money", "HouseNumber"]
