"""Use case: a resident types a house number and sees what is due. The look-up
is a signed message (docs/host-api.md "Bill look-up"), so it goes through the
kiosk's host session (injected by kiosk.bootstrap through ports.py): signed
on first, and once more if the host refuses our MAC key."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

from common.money import Money

from kiosk.domain.bill import HouseholdBill
from kiosk.services.ports import HostSessionPort
from common.house import HouseNumber


class BillSource(Protocol):
    async def household_bill(self, house: HouseNumber) -> HouseholdBill: ...


class BillService:
    def __init__(self, host: BillSource, session: HostSessionPort,
                 paid_here: Callable[[str], bool] = lambda house: False) -> None:
        """`paid_here(house_no)`: a bill payment of that household approved at
        this kiosk whose backup copy is still queued (the property host does
        not know of it yet: its bill would still show as due)."""
        self._host, self._session, self._paid_here = host, session, paid_here

    async def lookup(self, house_text: str) -> HouseholdBill:
        """Raises BadHouseNumber before any network call; HouseNotFound,
        HostUnavailable or BadHostReply from the host (NotSignedOn only if the
        key of a fresh sign-on is refused too)."""
        house = HouseNumber.parse(house_text)
        await self._session.ensure_signed_on()
        bill = await self._session.with_sign_on(lambda: self._host.household_bill(house))
        if bill.nothing_due or not self._paid_here(str(house)):
            return bill
        # shown paid (upload pending), never offered for payment a second time
        current = dataclasses.replace(bill.current, paid=True) if bill.current is not None else None
        return dataclasses.replace(bill, current=current, arrears=(), late_fee=Money.zero(),
                                   total_due=Money.zero(), upload_pending=True)
