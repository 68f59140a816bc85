"""Use case: a resident types a house number and sees what is due. The look-up
is a signed message (docs/host-api.md "Bill look-up"), so it goes through the
kiosk's host session (injected by kiosk.bootstrap through ports.py): signed
on first, and once more if the host refuses our MAC key."""
from __future__ import annotations

from typing import Protocol

from kiosk.domain.bill import HouseholdBill
from kiosk.services.ports import HostSessionPort
from common.house import HouseNumber


class BillSource(Protocol):
    async def household_bill(self, house: HouseNumber) -> HouseholdBill: ...


class BillService:
    def __init__(self, host: BillSource, session: HostSessionPort) -> None:
        self._host, self._session = host, session

    async def lookup(self, house_text: str) -> HouseholdBill:
        """Raises BadHouseNumber before any network call; HouseNotFound,
        HostUnavailable or BadHostReply from the host (NotSignedOn only if the
        key of a fresh sign-on is refused too)."""
        house = HouseNumber.parse(house_text)
        await self._session.ensure_signed_on()
        return await self._session.with_sign_on(lambda: self._host.household_bill(house))
