"""The IC wallet (卡务, docs/cards.md §6): present a card, load it from a bank
card, unload the passbook back to one, change the card PIN, pay the bill from
the wallet; and tear recovery, which never guesses (DESIGN §3).

This is what the screens call; the jobs are in their own modules: the types
it hands out (wallet_view.py), card I/O (wallet_card.py), the money steps
(wallet_money.py), tear recovery (wallet_tears.py), settling with the card
centre (wallet_settling.py), receipts (receipts.py). The host session, the
settling task, the PIN pad and the printer are injected (ports.py)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from kiosk.backend_client.cards import CardCentreClient, SeenReply
from common.epurse import Wallet
from kiosk.devices.ports import IcReader, PinKey, PinPad, ReceiptPrinter
from kiosk.domain.bill import HouseholdBill
from common.bank_card import CardSwipe
from kiosk.domain.errors import CardBlacklisted, KioskError
from common.money import Money
from kiosk.domain.receipt import Receipt
from kiosk.services.journal import Journal
from kiosk.services.ports import PIN_TIMEOUT_S, HostSessionPort, SettlingPort
from kiosk.services.receipts import print_logged, wallet_receipt
from kiosk.services.wallet_card import CardAccess
from kiosk.services.wallet_money import WalletMoney
from kiosk.services.wallet_settling import WalletSettling
from kiosk.services.wallet_tears import TearRecovery
from kiosk.services.wallet_view import CardView, TornTxn, WalletLimits, WalletOutcome
from kiosk.services.card_presentation import PresentationHook, Settle

log = logging.getLogger(__name__)

BLACKLIST_REFRESH_S = 300.0


class WalletService:
    def __init__(self, *, kiosk_id: str, estate: str, term_id: bytes, journal: Journal,
                 centre: CardCentreClient, session: HostSessionPort, settling: SettlingPort,
                 readers: Mapping[str, IcReader], pinpad: PinPad, printer: ReceiptPrinter,
                 limits: WalletLimits, watch: Callable[[Callable[[str, bool], None]], None] | None = None,
                 now: Callable[[], datetime]) -> None:
        if len(term_id) != 6:
            raise ValueError("the terminal id is 6 bytes")
        self.kiosk_id, self.estate, self.term_id = kiosk_id, estate, term_id
        self.journal, self.centre, self.session = journal, centre, session
        self.pinpad, self.printer = pinpad, printer
        self.readers = tuple(readers)
        self.limits = limits
        self._watch = watch
        self._now = now
        self._blacklist_at = 0.0
        # asked at each presentation with the card read (the transfers' credits owed)
        self._at_presentation: list[PresentationHook] = []
        self.cards = CardAccess(readers, limits)
        self.wallet_settling = WalletSettling(journal=journal, centre=centre, session=session, settling=settling,
                                              now=now)
        self.tears = TearRecovery(journal=journal, cards=self.cards, settling=self.wallet_settling)
        self.money = WalletMoney(kiosk_id=kiosk_id, term_id=term_id, journal=journal, centre=centre,
                                 session=session, settling=settling, cards=self.cards,
                                 wallet_settling=self.wallet_settling, tears=self.tears, now=now)
        settling.add_settler(self.wallet_settling.settle_once)

    # --- life cycle -------------------------------------------------------------------
    def recover_at_start(self) -> None:
        """What a crash left in flight (WalletSettling.recover_at_start)."""
        self.wallet_settling.recover_at_start()

    def watch(self, on_event: Callable[[str, bool], None]) -> None:
        if self._watch is not None:
            self._watch(on_event)

    def card_present(self, reader: str) -> bool:
        return self.cards.reader(reader).card_present()

    # --- present a card ---------------------------------------------------------------
    def at_presentation(self, hook: PresentationHook) -> None:
        """`hook("cpu", serial, reader)` runs at every presentation with the serial
        the wallet's own session read, and touches no card: None when nothing is
        to be done, else a settling that runs once that session is closed (it
        opens the card itself); the card is then read again, so the balances
        shown include what it settled (the ids it returns). Bootstrap wires
        TransferService.owed_at_presentation: the transfers' credits owed."""
        self._at_presentation.append(hook)

    async def present(self, reader: str) -> CardView:
        session = await asyncio.to_thread(self.cards.open, reader, None)
        settling: list[Settle] = []
        try:
            seen = await self._tell_seen(session.serial)
            if seen is None:   # the card centre is out of reach: the downloaded list decides
                listed = self.journal.is_blacklisted(session.serial)
            else:
                listed = seen.get("status") in ("lost", "blacklisted")
                if listed != self.journal.is_blacklisted(session.serial):
                    self.journal.apply_blacklist(self.journal.blacklist_version(), [(session.serial, listed)])
            if listed:
                raise CardBlacklisted(session.serial)
            resolved: tuple[str, ...] = ()
            for pending in seen["pending"] if seen is not None else []:
                if await self.wallet_settling.resolve_pending(session, pending):
                    resolved += (str(pending["txn_id"]),)
            holder = str(seen.get("holder", "")) if seen is not None else ""
            for hook in self._at_presentation:
                if (settle := await hook("cpu", session.serial, reader)) is not None:
                    settling.append(settle)
            if not settling:   # the usual case: the view from this same session, no card I/O added
                return await asyncio.to_thread(self.cards.read_view, session, reader, holder, resolved)
        finally:
            await asyncio.to_thread(session.close)
        for settle in settling:
            resolved += await settle()
        session = await asyncio.to_thread(self.cards.open, reader, session.serial)
        try:
            return await asyncio.to_thread(self.cards.read_view, session, reader, holder, resolved)
        finally:
            await asyncio.to_thread(session.close)

    async def _tell_seen(self, serial: str) -> SeenReply | None:
        """The card centre hears of every card presented (a blacklisted one too);
        None when it cannot be reached: the local blacklist still applies."""
        await self._refresh_blacklist()
        try:
            await self.session.ensure_signed_on()
            return await self.session.with_sign_on(lambda: self.centre.seen(serial))
        except KioskError as exc:
            log.info("card centre not told of card %s: %s", serial, exc)
            return None

    async def _refresh_blacklist(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._blacklist_at < BLACKLIST_REFRESH_S:
            return
        try:
            await self.session.ensure_signed_on()
            reply = await self.session.with_sign_on(
                lambda: self.centre.blacklist(self.journal.blacklist_version()))
        except KioskError as exc:
            log.info("blacklist not refreshed: %s", exc)
            return
        self.journal.apply_blacklist(int(reply["version"]),
                                     [(str(c["serial"]), bool(c["listed"])) for c in reply["changes"]])
        self._blacklist_at = time.monotonic()

    # --- load, unload, purchase (wallet_money.py) -------------------------------------
    async def load(self, card: CardView, wallet: Wallet, amount: Money, swipe: CardSwipe, pin_block: bytes,
                   card_pin: str | None = None) -> WalletOutcome:
        return await self.money.load(card, wallet, amount, swipe, pin_block, card_pin)

    async def unload(self, card: CardView, amount: Money, card_pin: str, swipe: CardSwipe) -> WalletOutcome:
        return await self.money.unload(card, amount, card_pin, swipe)

    async def pay_bill(self, card: CardView, wallet: Wallet, bill: HouseholdBill,
                       card_pin: str | None = None) -> WalletOutcome:
        return await self.money.pay_bill(card, wallet, bill, card_pin)

    async def pay_meter(self, card: CardView, wallet: Wallet, sale_id: str, amount: Money, house_no: str,
                        items: list[list[str | int]], card_pin: str | None = None) -> WalletOutcome:
        """A quoted meter sale paid from the card (MeterService.pay_by_wallet calls it)."""
        return await self.money.pay_meter(card, wallet, sale_id, amount, house_no, items, card_pin)

    # --- tear recovery (wallet_tears.py) ------------------------------------------------
    @property
    def torn(self) -> TornTxn | None:
        """The transaction whose card left during its write, while its card is awaited."""
        return self.tears.torn

    async def resume_torn(self, reader: str) -> WalletOutcome:
        return await self.tears.resume(reader)

    async def abandon_torn(self) -> None:
        await self.tears.abandon()

    # --- the card PIN, on the PIN pad ----------------------------------------------------
    async def collect_card_pin(self, on_key: Callable[[PinKey, int], None]) -> str:
        """The card's PIN from the pad's card-PIN mode: held in memory only, for
        the card's VERIFY / CHANGE PIN, never journaled or logged."""
        return await self.pinpad.collect_card_pin(on_key, PIN_TIMEOUT_S)

    async def cancel_pin_entry(self) -> None:
        await self.pinpad.cancel()

    # --- change PIN -------------------------------------------------------------------
    async def change_pin(self, card: CardView, old: str, new: str) -> None:
        session = await asyncio.to_thread(self.cards.open, card.reader, card.serial)
        try:
            await asyncio.to_thread(session.purse.change_pin, old, new)
        finally:
            await asyncio.to_thread(session.close)

    # --- receipts ---------------------------------------------------------------------
    def receipt_for(self, txn_id: str, *, reprint: bool = False) -> Receipt:
        entry = self.journal.get(txn_id)
        if entry is None:
            raise KeyError(f"no wallet transaction {txn_id}")
        return wallet_receipt(entry, self.estate, self.kiosk_id, reprint=reprint)

    async def print_receipt(self, txn_id: str) -> bool:
        """True if printed; a failure is logged, never raised (receipts can be reprinted)."""
        return await print_logged(self.printer, self.receipt_for(txn_id))

    # --- settling (called by the settling task) ------------------------------------------
    async def settle_once(self) -> bool:
        """Cancels and confirmations not acknowledged yet; news of those left pending."""
        return await self.wallet_settling.settle_once()
