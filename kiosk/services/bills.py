"""Use case: a resident types a house number and sees what is due."""
from __future__ import annotations

from typing import Protocol

from kiosk.domain.bill import HouseholdBill
from common.house import HouseNumber


class BillSource(Protocol):
    async def household_bill(self, house: HouseNumber) -> HouseholdBill: ...


class BillService:
    def __init__(self, host: BillSource) -> None:
        self._host = host

    async def lookup(self, house_text: str) -> HouseholdBill:
        """Raises BadHouseNumber before any network call; HouseNotFound,
        HostUnavailable or BadHostReply from the host."""
        house = HouseNumber.parse(house_text)
        return await self._host.household_bill(house)
