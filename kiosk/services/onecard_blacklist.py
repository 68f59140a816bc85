"""The one-card unpaid-fee blacklist at the kiosk (docs/onecard.md "Unpaid-fee
blacklist"): the host's list downloaded incrementally (at start and on every
pass of the settling task), a listed card told why (the property fee unpaid
since …, the amount), and offered to pay the arrears right there by bank card
— the existing bill payment over the bank link, for the household of the
card's own estate data — which lifts the listing at the host in the payment's
transaction; then, in the same presentation, the host delivers the key of the
public info and the card's black flag goes from 04 to 00.

The host stays the authority: it refuses a listed card at `onecard/present`
whatever the card or this list say; the list gives the kiosk the reason to show."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from common.money import Money
from common.onecard import BLACK_LISTED, BLACK_OK, DEMO_MAP, KeyType, SectorKeys
from common.onecard_blocks import EstateData
from common.bank_card import CardSwipe
from kiosk.backend_client.onecard import OneCardClient
from kiosk.domain.bill import HouseholdBill
from kiosk.domain.errors import CardFault, OneCardRefused
from kiosk.services.bills import BillService
from kiosk.services.journal import Journal
from kiosk.services.journal_onecard_blacklist import ListedCard
from kiosk.services.onecard import OneCardService
from kiosk.services.onecard_card import CardSession, OneCardView, open_session
from kiosk.services.payment import PaymentOutcome, PaymentService
from kiosk.services.ports import HostSessionPort

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnpaidFeeRefusal:
    """What the refusal screen shows: message_key with values, and the bill whose
    arrears the resident may pay here (None when the host has no bill to pay)."""
    uid: str
    house_no: str
    since: str                      # YYYY-MM-DD: the oldest unpaid property fee's due date
    owed: Money                     # the property fees listed
    bill: HouseholdBill | None      # everything due now (bills + late fees): what paying here pays
    message_key: str = "onecard.unpaid_fee"

    @property
    def values(self) -> dict[str, str]:
        return {"since": self.since, "amount": str(self.owed)}


@dataclass(frozen=True)
class UnblockOutcome:
    """After pay_arrears_and_unblock: the payment, whether the host lifted the
    listing, whether the card's flag was cleared, and the card accepted (view)."""
    payment: PaymentOutcome | None
    lifted: bool
    card_cleared: bool
    view: OneCardView | None

    @property
    def message_key(self) -> str:
        if self.payment is not None and not self.payment.approved:
            return "onecard.arrears_declined"
        return "onecard.unblocked" if self.view is not None else "onecard.unblock_pending"


class OneCardBlacklistService:
    def __init__(self, *, journal: Journal, client: OneCardClient, session: HostSessionPort,
                 onecard: OneCardService, payments: PaymentService, bills: BillService,
                 now: Callable[[], datetime]) -> None:
        self.journal, self.client, self.session = journal, client, session
        self.onecard, self.payments, self.bills, self._now = onecard, payments, bills, now

    # --- the list ------------------------------------------------------------------------
    async def refresh(self) -> int:
        """Download the changes since the version held; returns the version now held."""
        since = self.journal.onecard_blacklist_version()
        reply = await self.session.with_sign_on(lambda: self.client.blacklist(since))
        changes: list[ListedCard | str] = [
            ListedCard(c["uid"], c.get("house_no") or "", c.get("since") or "", int(c.get("amount_fen") or 0))
            if c["listed"] else c["uid"] for c in reply["changes"]]
        self.journal.apply_onecard_blacklist(int(reply["version"]), changes)
        return int(reply["version"])

    async def refresh_quietly(self) -> None:
        """The settling task's periodic download: a host out of reach waits for the next pass."""
        try:
            await self.refresh()
        except Exception as exc:   # noqa: BLE001 - logged; the host still refuses listed cards
            log.info("one-card blacklist not refreshed: %s", exc)

    # --- a card at the kiosk --------------------------------------------------------------
    async def present(self) -> OneCardView | UnpaidFeeRefusal | UnblockOutcome:
        """The card on the reader: its view; listed for unpaid fees, why (and
        what paying here pays); refused as blacklisted although the list no
        longer has it (its arrears were paid, the card pulled before its flag
        was cleared, or paid elsewhere), released at once: the host decides in
        `onecard/unblock`, and the outcome carries the card's view. Any other
        refusal is raised as OneCardRefused."""
        try:
            return await self.onecard.present()
        except OneCardRefused as exc:
            if exc.code != "blacklisted":
                raise
            refusal = await self.why(exc.uid)
            if refusal.since:                 # still listed: why, and the offer to pay
                return refusal
            released = await self.unblock()
            return released if released.view is not None else refusal

    async def why(self, uid: str) -> UnpaidFeeRefusal:
        listed = self.journal.onecard_listed(uid)
        if listed is None:               # listed after our last download: ask now
            await self.refresh_quietly()
            listed = self.journal.onecard_listed(uid)
        house = listed.house_no if listed is not None else ""
        bill = None
        if house:
            try:
                bill = await self.bills.lookup(house)
            except Exception as exc:  # noqa: BLE001 - the reason is still shown; only the offer waits
                log.info("one-card %s: the arrears of %s not looked up: %s", uid, house, exc)
        return UnpaidFeeRefusal(uid, house, listed.since if listed else "", Money(listed.amount_fen if listed else 0),
                                bill if bill is not None and not bill.nothing_due else None)

    async def pay_arrears_and_unblock(self, swipe: CardSwipe, pin_block: bytes) -> UnblockOutcome:
        """Pay the household's arrears (the card's estate data names it) with the
        bank card, then clear the card's black flag once the host lifted it."""
        await self.session.ensure_signed_on()
        house = await self._estate_house()
        bill = await self.bills.lookup(house)
        payment = None
        if not bill.nothing_due:
            payment = await self.payments.pay(bill, swipe, pin_block)
            if not payment.approved:
                return UnblockOutcome(payment, False, False, None)
        try:
            outcome = await self.unblock()
        except Exception as exc:  # noqa: BLE001 - the arrears are paid whatever the card does now
            # the card pulled (or the link lost) before its flag was cleared: the host
            # no longer lists it, so its next presentation, at any kiosk, clears it (present)
            log.warning("one-card: arrears paid, the card's flag not yet cleared: %s", exc)
            return UnblockOutcome(payment, False, False, None)     # not known here: the next tap asks
        return dataclasses.replace(outcome, payment=payment)

    async def print_receipt(self, txn_id: str) -> bool:
        """The arrears' receipt: the bill payment's own."""
        return await self.payments.print_receipt(txn_id)

    async def unblock(self) -> UnblockOutcome:
        """Clear the black flag of the card on the reader if the host no longer
        lists it, then present it again (accepted: its view)."""
        card = await asyncio.to_thread(open_session, self.onecard.reader, lambda *_: None)
        try:
            read = await self.client.keys(card.uid_hex)
            if read is None:
                raise OneCardRefused(card.uid_hex, "unknown_onecard")
            card.ring.add(read)
            keys = await self.client.unblock(card.uid_hex)
            if keys is None:
                return UnblockOutcome(None, False, False, None)
            cleared = await asyncio.to_thread(self._clear_black, card, keys[DEMO_MAP.public_info])
        finally:
            await asyncio.to_thread(card.close)
        await self.refresh_quietly()
        view = await self.onecard.present()
        return UnblockOutcome(None, True, cleared, view)

    async def _estate_house(self) -> str:
        card = await asyncio.to_thread(open_session, self.onecard.reader, lambda *_: None)
        try:
            keys = await self.client.keys(card.uid_hex)
            if keys is None:
                raise OneCardRefused(card.uid_hex, "unknown_onecard")
            card.ring.add(keys)
            return await asyncio.to_thread(_read_house, card)
        finally:
            await asyncio.to_thread(card.close)

    def _clear_black(self, card: CardSession, key: SectorKeys) -> bool:
        """Blocks 24 then 25 with the black flag 00 (a tear between them leaves
        ~25, still black, valid: the next tap does it again). False when the
        card was not black."""
        p = card.present(self.onecard.term_id, self._now().replace(microsecond=0))
        if p.info is None or p.info.black == BLACK_OK:
            return False
        if p.info.black != BLACK_LISTED:
            raise CardFault(f"black flag {p.info.black:02X}: not ours to clear")
        b24, b25 = dataclasses.replace(p.info, black=BLACK_OK).blocks()
        card.card.login(DEMO_MAP.public_block, KeyType.A, key.a)
        card.card.write(DEMO_MAP.public_block, b24)
        card.card.write(DEMO_MAP.public_inverse_block, b25)
        return True


def _read_house(card: CardSession) -> str:
    block = DEMO_MAP.estate_block
    card.card.login(block, KeyType.A, card.ring.sector_keys(card.uid, DEMO_MAP.estate).a)
    return EstateData.decode(card.card.read(block), card.card.read(block + 1)).house.strip()
