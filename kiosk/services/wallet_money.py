"""The wallet's money steps: load a purse from a bank card, unload the
passbook back to one, pay the bill from the card. Each follows the payment
rules: initialize on the card, journal the intent, authorise at the card
centre (an unknown outcome is cancelled until acknowledged, send_journaled),
write the card, confirm. A card that leaves during its write is torn: held
for tear recovery (wallet_tears.py)."""
from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from datetime import datetime

from kiosk.backend_client.cards import AuthoriseExtra, AuthoriseReply, AuthoriseRequest, CardCentreClient
from kiosk.cards.epurse import OnlineInit, PurchaseInit
from common.epurse import TxnType, Wallet
from kiosk.domain.bill import HouseholdBill
from common.bank_card import CardSwipe
from kiosk.domain.errors import (CardFault, CardMacInvalid, CardRemoved, CardTorn, PaymentsSuspended, ReaderFault,
                                 WalletInsufficient, WalletLimitExceeded)
from common.money import Money
from kiosk.i18n import tr
from kiosk.services.journal import Journal
from kiosk.services.ports import HostSessionPort, SettlingPort
from kiosk.services.receipts import RECEIPT_LANGUAGE, bill_items, bill_periods
from kiosk.services.wallet_card import CardAccess, CardSession
from kiosk.services.wallet_settling import WalletSettling
from kiosk.services.wallet_tears import TearRecovery
from kiosk.services.wallet_view import KIND, CardView, TornTxn, WalletOutcome

Init = OnlineInit | PurchaseInit


class WalletMoney:
    def __init__(self, *, kiosk_id: str, term_id: bytes, journal: Journal, centre: CardCentreClient,
                 session: HostSessionPort, settling: SettlingPort, cards: CardAccess,
                 wallet_settling: WalletSettling, tears: TearRecovery, now: Callable[[], datetime]) -> None:
        self.kiosk_id, self.term_id = kiosk_id, term_id
        self.journal, self.centre, self.session, self.settling = journal, centre, session, settling
        self.cards, self.wallet_settling, self.tears = cards, wallet_settling, tears
        self._now = now

    def check_can_pay(self) -> None:
        if self.settling.suspended:
            raise PaymentsSuspended("a reversal is pending")

    async def load(self, card: CardView, wallet: Wallet, amount: Money, swipe: CardSwipe, pin_block: bytes,
                   card_pin: str | None = None) -> WalletOutcome:
        self.check_can_pay()
        limits = self.cards.limits
        if not limits.min_load <= amount <= limits.max_load:
            raise ValueError(f"a load is {limits.min_load}..{limits.max_load}")
        if amount > card.room(wallet):
            raise WalletLimitExceeded(f"room {card.room(wallet)}")

        def prepare(session: CardSession) -> Init:
            if wallet is Wallet.ED:
                session.purse.verify_pin(card_pin or "")
            return session.purse.init_load(wallet, amount.fen, self.term_id)

        return await self._online(card, "load", wallet, amount, prepare, swipe, {
            "pan": swipe.pan, "track2": swipe.track2, "expiry": swipe.expiry,
            "pin_block": pin_block.hex().upper()})

    async def unload(self, card: CardView, amount: Money, card_pin: str, swipe: CardSwipe) -> WalletOutcome:
        self.check_can_pay()
        if amount.fen <= 0 or amount > card.ed_balance:
            raise WalletInsufficient(f"passbook holds {card.ed_balance}")

        def prepare(session: CardSession) -> Init:
            session.purse.verify_pin(card_pin)
            return session.purse.init_unload(amount.fen, self.term_id)

        return await self._online(card, "unload", Wallet.ED, amount, prepare, swipe, {
            "pan": swipe.pan, "track2": swipe.track2, "expiry": swipe.expiry})

    async def pay_bill(self, card: CardView, wallet: Wallet, bill: HouseholdBill,
                       card_pin: str | None = None) -> WalletOutcome:
        self.check_can_pay()
        amount = bill.total_due
        if amount > card.balance(wallet):
            raise WalletInsufficient(f"{wallet.name} holds {card.balance(wallet)}")

        def prepare(session: CardSession) -> Init:
            if wallet is Wallet.ED:
                session.purse.verify_pin(card_pin or "")
            return session.purse.init_purchase(wallet, amount.fen, self.term_id)

        items = bill_items(bill)
        return await self._online(card, "purchase", wallet, amount, prepare, None, {
            "house_no": str(bill.house), "periods": bill_periods(bill)},
            house_no=str(bill.house), items=[[i.label, i.amount.fen] for i in items])

    async def pay_meter(self, card: CardView, wallet: Wallet, sale_id: str, amount: Money, house_no: str,
                        items: list[list[str | int]], card_pin: str | None = None) -> WalletOutcome:
        """Pay a quoted meter sale (kiosk/services/meter.py) from the card: the
        bill's purchase with `meter_sale` in place of the bill; the host's confirm
        pays the sale."""
        self.check_can_pay()
        if amount > card.balance(wallet):
            raise WalletInsufficient(f"{wallet.name} holds {card.balance(wallet)}")

        def prepare(session: CardSession) -> Init:
            if wallet is Wallet.ED:
                session.purse.verify_pin(card_pin or "")
            return session.purse.init_purchase(wallet, amount.fen, self.term_id)

        return await self._online(card, "purchase", wallet, amount, prepare, None, {"meter_sale": sale_id},
                                  house_no=house_no, items=items)

    async def _online(self, card: CardView, kind: str, wallet: Wallet, amount: Money,
                      prepare: Callable[[CardSession], Init], swipe: CardSwipe | None, extra: AuthoriseExtra, *,
                      house_no: str = "", items: list[list[str | int]] | None = None) -> WalletOutcome:
        """The shared shape of the three online writes: initialize on the card,
        authorise at the card centre, write the card, confirm."""
        await self.session.ensure_signed_on()   # HostUnavailable if the host is still down
        session: CardSession | None     # None once the write step owns it
        session = await asyncio.to_thread(self.cards.open, card.reader, card.serial)
        try:
            init = await asyncio.to_thread(prepare, session)
            now = self._now().replace(microsecond=0)
            txn_id = f"{self.kiosk_id}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(3).upper()}"
            txn_type = {"load": TxnType.load(wallet), "unload": TxnType.UNLOAD,
                        "purchase": TxnType.purchase(wallet)}[kind]
            term_txn_no = self.journal.next_counter() & 0xFFFFFFFF if kind == "purchase" else None
            masked = swipe.masked_pan if swipe is not None else ""
            label = tr(f"wallet.receipt.{kind}", RECEIPT_LANGUAGE, wallet=tr(f"wallet.{wallet.name}", RECEIPT_LANGUAGE))
            self.journal.record_intent(txn_id, kind=KIND[kind], house_no=house_no, amount_fen=amount.fen,
                                       masked_pan=masked, detail={
                                           "serial": card.serial, "wallet": wallet.name, "txn_type": int(txn_type),
                                           "counter": init.counter, "balance": init.balance,
                                           "term_txn_no": term_txn_no, "at": now.isoformat(timespec="seconds"),
                                           "items": items or [[label, amount.fen]],
                                           "periods": extra.get("periods")})
            request: AuthoriseRequest = {
                "txn_id": txn_id, "serial": card.serial, "wallet": wallet.name, "amount_fen": amount.fen,
                "balance_fen": init.balance, "card_counter": init.counter, "random": init.random.hex().upper(),
                "term_id": self.term_id.hex().upper(), "when": f"{now:%Y%m%d%H%M%S}", **extra}
            if kind != "purchase":
                assert isinstance(init, OnlineInit)
                request["mac1"] = init.mac1.hex().upper()
            else:
                assert term_txn_no is not None
                request["term_txn_no"] = term_txn_no
            reply = await self.settling.send_journaled(
                txn_id, lambda: self.centre.authorise(kind, request), undo="cancelling",
                renewed="working keys renewed: try again")
            if reply["result"] != "approved":
                code = str(reply.get("code", "declined"))
                self.journal.set_state(txn_id, "declined", code=code)
                return WalletOutcome(txn_id, kind, False, wallet, amount, masked_pan=masked, decline_code=code,
                                     tries_left=reply.get("tries_left"))
            self.journal.set_state(txn_id, "authorised", reference=str(reply.get("reference", "")))
            proof = await self._write(session, kind, txn_id, card, amount, wallet, now, reply, term_txn_no)
            session = None   # the write step owns it now (it may be kept for tear recovery)
            return await self.wallet_settling.finish(txn_id, kind, wallet, amount, proof, init.balance, masked)
        finally:
            if session is not None:
                await asyncio.to_thread(session.close)

    async def _write(self, session: CardSession, kind: str, txn_id: str, card: CardView, amount: Money,
                     wallet: Wallet, now: datetime, reply: AuthoriseReply,
                     term_txn_no: int | None) -> tuple[bytes, bytes]:
        """The card write; returns (MAC2, TAC|MAC3). A card that leaves here may or
        may not have applied it: CardTorn, and the session waits for it."""
        purse = session.purse
        try:
            if kind == "load":
                mac2 = bytes.fromhex(reply["mac2"])
                result = (mac2, await asyncio.to_thread(purse.credit_load, now, mac2))
            elif kind == "unload":
                mac2 = bytes.fromhex(reply["mac2"])
                result = (mac2, await asyncio.to_thread(purse.unload, now, mac2))
            else:
                assert term_txn_no is not None    # _online numbers every purchase
                tac, mac2 = await asyncio.to_thread(purse.debit_purchase, term_txn_no, now,
                                                    bytes.fromhex(reply["mac1"]))
                result = (mac2, tac)
        except CardMacInvalid as exc:   # the card refused the write: provably not applied
            await asyncio.to_thread(session.close)
            await self.wallet_settling.cancel_now(kind, txn_id, "card refused the MAC")
            raise CardFault(f"card refused {kind}: {exc}") from exc
        except (CardRemoved, CardFault, ReaderFault) as exc:
            await asyncio.to_thread(session.close)
            self.journal.set_state(txn_id, "torn", reason=type(exc).__name__)
            self.tears.hold(TornTxn(txn_id, kind, card.serial, amount, wallet))
            raise CardTorn(card.serial) from exc
        await asyncio.to_thread(session.close)
        return result
