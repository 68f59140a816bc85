"""The IC wallet (卡务, docs/cards.md §6): present a card, load it from a bank
card, unload the passbook back to one, change the card PIN, pay the bill from
the wallet; and tear recovery, which never guesses (DESIGN §3).

Every money step follows the payment rules: journal first, the card centre's
answer after; an unknown host outcome is cancelled until acknowledged; a card
that leaves during its write is asked back and questioned with GET
TRANSACTION PROVE. Card I/O is blocking and runs in worker threads; the
connection stays open from INITIALIZE to the write, because the card forgets
an initialize when it is powered down."""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from kiosk.backend_client.cards import STATUS_MAX_IDS, CardCentreClient
from kiosk.backend_client.signed import NotSignedOn
from kiosk.cards.apdu import ApduTransport
from kiosk.cards.epurse import EPurse
from common.epurse import TxnType, Wallet
from kiosk.devices.ports import PinKey
from kiosk.domain.bill import HouseholdBill
from common.bank_card import CardSwipe
from kiosk.domain.errors import (CardBlacklisted, CardFault, CardMacInvalid, CardRemoved, CardTorn, HostError,
                                 HostUnavailable, KioskError, NotTheSameCard, OutcomeUnknown, ReaderFault,
                                 WalletInsufficient, WalletLimitExceeded)
from common.money import Money
from kiosk.domain.receipt import Receipt, ReceiptItem
from kiosk.i18n import tr
from kiosk.services.journal import Journal, JournalEntry
from kiosk.services.payment import RECEIPT_LANGUAGE, PaymentService, bill_items, bill_periods

log = logging.getLogger(__name__)

KIND = {"load": "wallet_load", "unload": "wallet_unload", "purchase": "wallet_purchase"}
BLACKLIST_REFRESH_S = 300.0
LEFT_PENDING_ASK_S = 60.0   # how often the card centre is asked about transactions left pending here


class IcReader(Protocol):
    def card_present(self) -> bool: ...

    def connect(self) -> ApduTransport: ...


@dataclass(frozen=True)
class HistoryLine:
    when: datetime
    txn_type: TxnType
    amount: Money
    term_id: str


@dataclass(frozen=True)
class CardView:
    reader: str
    serial: str
    holder: str
    ed_balance: Money
    ep_balance: Money
    ed_max: Money
    ep_max: Money
    expiry: date
    history: tuple[HistoryLine, ...]
    resolved: tuple[str, ...] = ()

    def balance(self, wallet: Wallet) -> Money:
        return self.ed_balance if wallet is Wallet.ED else self.ep_balance

    def room(self, wallet: Wallet) -> Money:
        """How much more the wallet may hold."""
        top = self.ed_max if wallet is Wallet.ED else self.ep_max
        return Money(max(0, top.fen - self.balance(wallet).fen))


@dataclass(frozen=True)
class WalletLimits:
    min_load: Money
    max_load: Money
    presets: tuple[Money, ...]
    ep_max: Money = Money(100_000)      # the issuer's wallet maximums (docs/cards.md §2)
    ed_max: Money = Money(5_000_000)


@dataclass(frozen=True)
class WalletOutcome:
    txn_id: str
    kind: str
    approved: bool
    wallet: Wallet
    amount: Money
    new_balance: Money | None = None
    masked_pan: str = ""
    decline_code: str = ""
    tries_left: int | None = None
    reference: str = ""


@dataclass(frozen=True)
class TornTxn:
    txn_id: str
    kind: str
    serial: str
    amount: Money
    wallet: Wallet


@dataclass
class _Open:
    """A card session held open across the card centre's answer."""
    purse: EPurse
    transport: ApduTransport
    serial: str
    closed: bool = False

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close is not None and not self.closed:
            self.closed = True
            try:
                close()
            except KioskError:
                pass


def _proof_fields(kind: str, mac2: bytes, tac: bytes) -> dict[str, str]:
    if kind == "unload":
        return {"mac3": tac.hex().upper()}
    if kind == "purchase":
        return {"tac": tac.hex().upper(), "mac2": mac2.hex().upper()}
    return {"tac": tac.hex().upper()}


def wallet_receipt(entry: JournalEntry, estate: str, kiosk_id: str, *, reprint: bool = False) -> Receipt:
    """The receipt of a written wallet transaction, from its journal entry alone."""
    if entry.kind not in KIND.values() or entry.state not in ("completed", "confirming"):
        raise KeyError(f"no completed wallet transaction {entry.txn_id}")
    d, lang = entry.detail, RECEIPT_LANGUAGE
    wallet_name = tr("wallet." + d["wallet"], lang)
    extra = (f"{tr('wallet.receipt.card', lang)}: {d['serial']}",
             f"{tr('wallet.receipt.balance', lang, wallet=wallet_name)}: {Money(int(d['new_balance'])).yuan}")
    return Receipt(estate=estate, kiosk_id=kiosk_id, when=datetime.fromisoformat(d["at"]),
                   house_no=entry.house_no,
                   items=tuple(ReceiptItem(label, Money(fen)) for label, fen in d["items"]),
                   total=Money(entry.amount_fen), masked_pan=entry.masked_pan, txn_id=entry.txn_id,
                   reference=d.get("reference", ""), auth_code="", reprint=reprint,
                   title=tr(f"wallet.receipt.title.{entry.kind}", lang), extra=extra)


class WalletService:
    def __init__(self, *, kiosk_id: str, estate: str, term_id: bytes, journal: Journal,
                 centre: CardCentreClient, payments: PaymentService, readers: Mapping[str, IcReader],
                 limits: WalletLimits, watch: Callable[[Callable[[str, bool], None]], None] | None = None,
                 now: Callable[[], datetime]) -> None:
        if len(term_id) != 6:
            raise ValueError("the terminal id is 6 bytes")
        self.kiosk_id, self.estate, self.term_id = kiosk_id, estate, term_id
        self.journal, self.centre, self.payments = journal, centre, payments
        self._readers = readers
        self.readers = tuple(readers)
        self.limits = limits
        self._watch = watch
        self._now = now
        self.torn: TornTxn | None = None
        self._torn_open: _Open | None = None
        self._blacklist_at = 0.0
        self._left_pending_asked: float | None = None   # monotonic; None: not asked yet
        payments.add_settler(self.settle_once)

    # --- life cycle -------------------------------------------------------------------
    def recover_at_start(self) -> None:
        """What a crash left in flight: an `intent` may have reached the card centre
        (cancel it); `authorised`/`torn` may or may not be on the card, which is not
        here to ask (left pending: resolved when the card is next presented);
        `card_done` holds the card's proof (confirm it)."""
        for entry in self._wallet_entries("intent"):
            self.journal.set_state(entry.txn_id, "cancelling", reason="kiosk restarted")
        for entry in self._wallet_entries("authorised", "torn"):
            self.journal.set_state(entry.txn_id, "left_pending", reason="kiosk restarted")
        for entry in self._wallet_entries("card_done"):
            self.journal.set_state(entry.txn_id, "confirming")

    def watch(self, on_event: Callable[[str, bool], None]) -> None:
        if self._watch is not None:
            self._watch(on_event)

    def card_present(self, reader: str) -> bool:
        return self._reader(reader).card_present()

    # --- present a card ---------------------------------------------------------------
    async def present(self, reader: str) -> CardView:
        session = await asyncio.to_thread(self._open, reader, None)
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
            resolved = []
            for pending in (seen or {}).get("pending", []):
                if await self._resolve_pending(session, pending):
                    resolved.append(str(pending["txn_id"]))
            return await asyncio.to_thread(self._read_view, session, reader,
                                           str((seen or {}).get("holder", "")), tuple(resolved))
        finally:
            await asyncio.to_thread(session.close)

    async def _tell_seen(self, serial: str) -> dict[str, Any] | None:
        """The card centre hears of every card presented (a blacklisted one too);
        None when it cannot be reached: the local blacklist still applies."""
        await self._refresh_blacklist()
        try:
            await self._ensure_signed_on()
            return await self.payments.with_sign_on(lambda: self.centre.seen(serial))
        except KioskError as exc:
            log.info("card centre not told of card %s: %s", serial, exc)
            return None

    async def _refresh_blacklist(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._blacklist_at < BLACKLIST_REFRESH_S:
            return
        try:
            await self._ensure_signed_on()
            reply = await self.payments.with_sign_on(
                lambda: self.centre.blacklist(self.journal.blacklist_version()))
        except KioskError as exc:
            log.info("blacklist not refreshed: %s", exc)
            return
        self.journal.apply_blacklist(int(reply["version"]),
                                     [(str(c["serial"]), bool(c["listed"])) for c in reply["changes"]])
        self._blacklist_at = time.monotonic()

    def _read_view(self, session: _Open, reader: str, holder: str, resolved: tuple[str, ...]) -> CardView:
        purse = session.purse
        info = purse.read_app_info()
        ed, ep = purse.get_balance(Wallet.ED), purse.get_balance(Wallet.EP)
        history = tuple(HistoryLine(r.when, r.txn_type, Money(r.amount), r.term_id.hex().upper())
                        for r in purse.read_log())
        return CardView(reader, session.serial, holder, Money(ed), Money(ep), self.limits.ed_max,
                        self.limits.ep_max, info.expiry, history, resolved)

    async def _resolve_pending(self, session: _Open, pending: dict[str, Any]) -> bool:
        """An earlier write on this card whose outcome the card centre does not
        know: ask the card, then confirm or cancel. True when settled."""
        txn_id, kind = str(pending["txn_id"]), str(pending["kind"])
        proof = await asyncio.to_thread(session.purse.transaction_proof, TxnType(int(pending["txn_type"])),
                                        int(pending["counter"]))
        entry = self.journal.get(txn_id)
        mine = entry is not None and entry.kind in KIND.values()
        detail: dict[str, Any] = {"resolved_at": self._now().isoformat(timespec="seconds")}
        try:
            if proof is None:
                detail["cancel"] = await self.payments.with_sign_on(
                    lambda: self.centre.cancel(kind, txn_id, "card did not apply it"))
                state = "cancelled"
            else:
                reply = await self.payments.with_sign_on(
                    lambda: self.centre.confirm(kind, txn_id, _proof_fields(kind, *proof)))
                if reply.get("reference"):    # a purchase's reference comes with its confirm
                    detail["reference"] = str(reply["reference"])
                state = "completed"
        except KioskError as exc:
            log.warning("pending %s %s on card %s not settled yet: %s", kind, txn_id, session.serial, exc)
            return False
        if mine:    # another kiosk's copy is that kiosk's to send (it asks cards/status)
            self.journal.set_state(txn_id, state, **detail)
            self._queue_backup(txn_id)
        log.warning("pending %s %s on card %s settled: %s", kind, txn_id, session.serial, state)
        return True

    # --- load, unload, purchase -------------------------------------------------------
    async def load(self, card: CardView, wallet: Wallet, amount: Money, swipe: CardSwipe, pin_block: bytes,
                   card_pin: str | None = None) -> WalletOutcome:
        self.payments.check_can_pay()
        if not self.limits.min_load <= amount <= self.limits.max_load:
            raise ValueError(f"a load is {self.limits.min_load}..{self.limits.max_load}")
        if amount > card.room(wallet):
            raise WalletLimitExceeded(f"room {card.room(wallet)}")

        def prepare(session: _Open) -> Any:
            if wallet is Wallet.ED:
                session.purse.verify_pin(card_pin or "")
            return session.purse.init_load(wallet, amount.fen, self.term_id)

        return await self._online(card, "load", wallet, amount, prepare, swipe, {
            "pan": swipe.pan, "track2": swipe.track2, "expiry": swipe.expiry,
            "pin_block": pin_block.hex().upper()})

    async def unload(self, card: CardView, amount: Money, card_pin: str, swipe: CardSwipe) -> WalletOutcome:
        self.payments.check_can_pay()
        if amount.fen <= 0 or amount > card.ed_balance:
            raise WalletInsufficient(f"passbook holds {card.ed_balance}")

        def prepare(session: _Open) -> Any:
            session.purse.verify_pin(card_pin)
            return session.purse.init_unload(amount.fen, self.term_id)

        return await self._online(card, "unload", Wallet.ED, amount, prepare, swipe, {
            "pan": swipe.pan, "track2": swipe.track2, "expiry": swipe.expiry})

    async def pay_bill(self, card: CardView, wallet: Wallet, bill: HouseholdBill,
                       card_pin: str | None = None) -> WalletOutcome:
        self.payments.check_can_pay()
        amount = bill.total_due
        if amount > card.balance(wallet):
            raise WalletInsufficient(f"{wallet.name} holds {card.balance(wallet)}")

        def prepare(session: _Open) -> Any:
            if wallet is Wallet.ED:
                session.purse.verify_pin(card_pin or "")
            return session.purse.init_purchase(wallet, amount.fen, self.term_id)

        items = bill_items(bill)
        return await self._online(card, "purchase", wallet, amount, prepare, None, {
            "house_no": str(bill.house), "periods": bill_periods(bill)},
            house_no=str(bill.house), items=[[i.label, i.amount.fen] for i in items])

    async def _online(self, card: CardView, kind: str, wallet: Wallet, amount: Money,
                      prepare: Callable[[_Open], Any], swipe: CardSwipe | None, extra: dict[str, Any], *,
                      house_no: str = "", items: list[list[Any]] | None = None) -> WalletOutcome:
        """The shared shape of the three online writes: initialize on the card,
        authorise at the card centre, write the card, confirm."""
        await self._ensure_signed_on()
        session: _Open | None     # None once the write step owns it
        session = await asyncio.to_thread(self._open, card.reader, card.serial)
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
            fields = {"txn_id": txn_id, "serial": card.serial, "wallet": wallet.name, "amount_fen": amount.fen,
                      "balance_fen": init.balance, "card_counter": init.counter, "random": init.random.hex().upper(),
                      "term_id": self.term_id.hex().upper(), "when": f"{now:%Y%m%d%H%M%S}", **extra}
            if kind != "purchase":
                fields["mac1"] = init.mac1.hex().upper()
            else:
                fields["term_txn_no"] = term_txn_no
            reply = await self._authorise(kind, txn_id, fields)
            if reply["result"] != "approved":
                code = str(reply.get("code", "declined"))
                self.journal.set_state(txn_id, "declined", code=code)
                return WalletOutcome(txn_id, kind, False, wallet, amount, masked_pan=masked, decline_code=code,
                                     tries_left=reply.get("tries_left"))
            self.journal.set_state(txn_id, "authorised", reference=str(reply.get("reference", "")))
            proof = await self._write(session, kind, txn_id, card, amount, wallet, now, reply, term_txn_no)
            session = None   # the write step owns it now (it may be kept for tear recovery)
            return await self._finish(txn_id, kind, wallet, amount, proof, init.balance, masked)
        finally:
            if session is not None:
                await asyncio.to_thread(session.close)

    async def _authorise(self, kind: str, txn_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.centre.authorise(kind, fields)
        except NotSignedOn as exc:    # nothing happened; new keys void a PIN block
            self.journal.set_state(txn_id, "not_sent", reason="working keys renewed")
            self.payments.signed_on = False
            await self.payments.sign_on()
            raise HostUnavailable("working keys renewed: try again") from exc
        except HostUnavailable:
            self.journal.set_state(txn_id, "not_sent")
            raise
        except (OutcomeUnknown, HostError) as exc:
            self.journal.set_state(txn_id, "cancelling", reason=str(exc.detail)[:200])
            self.payments.wake_settler()
            raise OutcomeUnknown(exc.detail) from exc

    async def _write(self, session: _Open, kind: str, txn_id: str, card: CardView, amount: Money,
                     wallet: Wallet, now: datetime, reply: dict[str, Any],
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
            await self._cancel_now(kind, txn_id, "card refused the MAC")
            raise CardFault(f"card refused {kind}: {exc}") from exc
        except (CardRemoved, CardFault, ReaderFault) as exc:
            await asyncio.to_thread(session.close)
            self.journal.set_state(txn_id, "torn", reason=type(exc).__name__)
            self.torn = TornTxn(txn_id, kind, card.serial, amount, wallet)
            raise CardTorn(card.serial) from exc
        await asyncio.to_thread(session.close)
        return result

    async def _finish(self, txn_id: str, kind: str, wallet: Wallet, amount: Money, proof: tuple[bytes, bytes],
                      old_balance: int, masked: str) -> WalletOutcome:
        new_balance = Money(old_balance + (amount.fen if kind == "load" else -amount.fen))
        self.journal.set_state(txn_id, "card_done", proof=_proof_fields(kind, *proof), new_balance=new_balance.fen)
        reference = await self._confirm(txn_id, kind)
        return WalletOutcome(txn_id, kind, True, wallet, amount, new_balance, masked, reference=reference)

    async def _confirm(self, txn_id: str, kind: str) -> str:
        """Tell the card centre what the card did; retried by the settler if it
        cannot be reached (the card is already written: this must arrive)."""
        entry = self.journal.get(txn_id)
        assert entry is not None
        try:
            reply = await self.payments.with_sign_on(
                lambda: self.centre.confirm(kind, txn_id, entry.detail["proof"]))
        except KioskError as exc:
            log.warning("%s %s written to the card; confirmation waits: %s", kind, txn_id, exc)
            self.journal.set_state(txn_id, "confirming")
            self.payments.wake_settler()
            return entry.detail.get("reference", "")
        reference = str(reply.get("reference") or entry.detail.get("reference", ""))
        self.journal.set_state(txn_id, "completed", reference=reference)
        self._queue_backup(txn_id)
        return reference

    async def _cancel_now(self, kind: str, txn_id: str, reason: str) -> None:
        self.journal.set_state(txn_id, "cancelling", reason=reason)
        entry = self.journal.get(txn_id)
        assert entry is not None      # _online recorded it before the card write
        if not await self._cancel(entry):
            self.payments.wake_settler()

    async def _cancel(self, entry: JournalEntry) -> bool:
        kind = entry.kind.removeprefix("wallet_")
        try:
            status = await self.payments.with_sign_on(
                lambda: self.centre.cancel(kind, entry.txn_id, str(entry.detail.get("reason", ""))))
        except KioskError as exc:
            log.info("cancel of %s not acknowledged yet: %s", entry.txn_id, exc)
            return False
        self.journal.set_state(entry.txn_id, "cancelled", cancel=status)
        self._queue_backup(entry.txn_id)
        return True

    # --- tear recovery ----------------------------------------------------------------
    async def resume_torn(self, reader: str) -> WalletOutcome:
        torn = self.torn
        if torn is None:
            raise RuntimeError("no torn transaction")
        session = await asyncio.to_thread(self._open, reader, None)
        try:
            if session.serial != torn.serial:
                raise NotTheSameCard(session.serial)
            entry = self.journal.get(torn.txn_id)
            assert entry is not None
            proof = await asyncio.to_thread(session.purse.transaction_proof, TxnType(entry.detail["txn_type"]),
                                            int(entry.detail["counter"]))
        finally:
            await asyncio.to_thread(session.close)
        self.torn = None
        if proof is None:   # the card did not apply it: undo the bank side
            await self._cancel_now(torn.kind, torn.txn_id, "card did not apply it")
            return WalletOutcome(torn.txn_id, torn.kind, False, torn.wallet, torn.amount,
                                 masked_pan=entry.masked_pan, decline_code="card_not_written")
        return await self._finish(torn.txn_id, torn.kind, torn.wallet, torn.amount, proof,
                                  int(entry.detail["balance"]), entry.masked_pan)

    async def abandon_torn(self) -> None:
        """The card did not come back in time: the card centre keeps the
        transaction pending and settles it when the card is next presented."""
        torn, self.torn = self.torn, None
        if torn is not None:
            self.journal.set_state(torn.txn_id, "left_pending", reason="card not returned")
            log.warning("%s %s left pending at the card centre (card %s not returned)",
                        torn.kind, torn.txn_id, torn.serial)

    # --- the card PIN, on the PIN pad ----------------------------------------------------
    async def collect_card_pin(self, on_key: Callable[[PinKey, int], None]) -> str:
        """The card's PIN from the pad's card-PIN mode: held in memory only, for
        the card's VERIFY / CHANGE PIN, never journaled or logged."""
        return await self.payments.pinpad.collect_card_pin(on_key, self.payments.PIN_TIMEOUT_S)

    async def cancel_pin_entry(self) -> None:
        await self.payments.pinpad.cancel()

    # --- change PIN -------------------------------------------------------------------
    async def change_pin(self, card: CardView, old: str, new: str) -> None:
        session = await asyncio.to_thread(self._open, card.reader, card.serial)
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
        return await self.payments.print(self.receipt_for(txn_id))

    # --- settling (called by the payment service's settling task) -----------------------
    async def settle_once(self) -> bool:
        """Cancels and confirmations that have not been acknowledged yet; then
        what became of the transactions left pending here."""
        for entry in self._wallet_entries("cancelling"):
            if not await self._cancel(entry):
                return False
        for entry in self._wallet_entries("confirming"):
            kind = entry.kind.removeprefix("wallet_")
            try:
                reply = await self.payments.with_sign_on(
                    lambda: self.centre.confirm(kind, entry.txn_id, entry.detail["proof"]))
            except KioskError as exc:
                log.info("confirmation of %s not acknowledged yet: %s", entry.txn_id, exc)
                return False
            self.journal.set_state(entry.txn_id, "completed",
                                   reference=str(reply.get("reference") or entry.detail.get("reference", "")))
            self._queue_backup(entry.txn_id)
        return await self._ask_left_pending()

    async def _ask_left_pending(self) -> bool:
        """Transactions left pending here (the card never came back) that were
        settled since: the card was presented at another kiosk, or staff acted.
        Their final result comes from the card centre and their copy goes like
        any other. Asked at most every LEFT_PENDING_ASK_S, a failed ask
        included: the settler's back-off passes do not hammer the host."""
        entries = self._wallet_entries("left_pending")
        now = time.monotonic()
        if not entries or (self._left_pending_asked is not None
                           and now - self._left_pending_asked < LEFT_PENDING_ASK_S):
            return True
        self._left_pending_asked = now
        for start in range(0, len(entries), STATUS_MAX_IDS):
            batch = [e.txn_id for e in entries[start:start + STATUS_MAX_IDS]]
            try:
                answers = await self.payments.with_sign_on(lambda: self.centre.status(batch))
            except KioskError as exc:
                log.info("status of %d transaction(s) left pending not known yet: %s", len(batch), exc)
                return False
            for answer in answers:
                self._learn_final(str(answer["txn_id"]), str(answer["status"]), answer.get("reference"))
        return True

    def _learn_final(self, txn_id: str, status: str, reference: Any) -> None:
        entry = self.journal.get(txn_id)
        if status == "authorised" or entry is None or entry.state != "left_pending":
            return   # still pending (settled when the card is next presented), or settled here meanwhile
        detail: dict[str, Any] = {"resolved_at": self._now().isoformat(timespec="seconds")}
        if reference:
            detail["reference"] = str(reference)
        if status == "not_found":
            # it was authorised (the card centre answered it), yet the centre holds no
            # authorised transaction of ours by that id: nothing it records moved. No
            # cancel is sent (there is no late authorise to stop); the copy says
            # cancelled and reconciliation shows staff the card centre's gap.
            log.warning("%s %s left pending is unknown to the card centre", entry.kind, txn_id)
            detail["reason"] = "unknown to the card centre"
            status = "cancelled"
        self.journal.set_state(txn_id, status, **detail)
        self._queue_backup(txn_id)
        log.warning("%s %s left pending was settled elsewhere: %s", entry.kind, txn_id, status)

    # --- helpers ----------------------------------------------------------------------
    def _wallet_entries(self, *states: str) -> list[JournalEntry]:
        return [e for e in self.journal.in_state(*states) if e.kind in KIND.values()]

    def _reader(self, name: str) -> IcReader:
        try:
            return self._readers[name]
        except KeyError:
            raise ReaderFault(f"no IC card reader named {name!r}") from None

    def _open(self, reader: str, expect_serial: str | None) -> _Open:
        """Connect, select the e-purse and read its serial (blocking)."""
        transport = self._reader(reader).connect()
        purse = EPurse(transport)
        session = _Open(purse, transport, "")
        try:
            purse.select()
            session.serial = purse.read_app_info().serial_hex
            if expect_serial is not None and session.serial != expect_serial:
                raise NotTheSameCard(session.serial)
        except BaseException:
            session.close()
            raise
        return session

    async def _ensure_signed_on(self) -> None:
        if not self.payments.signed_on:
            await self.payments.sign_on()   # HostUnavailable if the host is still down

    def _queue_backup(self, txn_id: str) -> None:
        entry = self.journal.get(txn_id)
        assert entry is not None
        self.journal.queue_backup(txn_id, {
            "txn_id": txn_id, "kind": entry.kind, "house_no": entry.house_no or None,
            "amount_fen": entry.amount_fen, "masked_pan": entry.masked_pan or None, "result": entry.state,
            "reference": entry.detail.get("reference") or None, "wallet": entry.detail.get("wallet"),
            "card": entry.detail.get("serial"), "at": entry.detail.get("at", entry.created_at)})
        self.payments.wake_settler()
