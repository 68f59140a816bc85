"""Settling the wallet's transactions with the card centre: the confirmation
of what a card did (its proof), the cancel of what it did not, what a crash
left in flight, transactions a card brings back pending, and news of those
left pending here (the card never came back). Unacknowledged cancels and
confirmations are sent again by the settling task (settling.py), which calls
`settle_once`; a finished transaction's backup copy goes with the others."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kiosk.backend_client.cards import STATUS_MAX_IDS, CardCentreClient, CardProof, PendingTxn
from common.epurse import TxnType, Wallet
from kiosk.domain.errors import KioskError
from common.money import Money
from kiosk.services.copies import wallet_copy
from kiosk.services.journal import Journal, JournalEntry
from kiosk.services.ports import HostSessionPort, SettlingPort
from kiosk.services.wallet_card import CardSession
from kiosk.services.wallet_view import KIND, WalletOutcome

log = logging.getLogger(__name__)

LEFT_PENDING_ASK_S = 60.0   # how often the card centre is asked about transactions left pending here


def proof_fields(kind: str, mac2: bytes, tac: bytes) -> CardProof:
    if kind == "unload":
        return {"mac3": tac.hex().upper()}
    if kind == "purchase":
        return {"tac": tac.hex().upper(), "mac2": mac2.hex().upper()}
    return {"tac": tac.hex().upper()}


class WalletSettling:
    def __init__(self, *, journal: Journal, centre: CardCentreClient, session: HostSessionPort,
                 settling: SettlingPort, now: Callable[[], datetime]) -> None:
        self.journal, self.centre, self.session, self.settling = journal, centre, session, settling
        self._now = now
        self._left_pending_asked: float | None = None   # monotonic; None: not asked yet

    def recover_at_start(self) -> None:
        """What a crash left in flight: an `intent` may have reached the card centre
        (cancel it); `authorised`/`torn` may or may not be on the card, which is not
        here to ask (left pending: resolved when the card is next presented);
        `card_done` holds the card's proof (confirm it)."""
        for entry in self.entries("intent"):
            self.journal.set_state(entry.txn_id, "cancelling", reason="kiosk restarted")
        for entry in self.entries("authorised", "torn"):
            self.journal.set_state(entry.txn_id, "left_pending", reason="kiosk restarted")
        for entry in self.entries("card_done"):
            self.journal.set_state(entry.txn_id, "confirming")

    # --- after the card write -----------------------------------------------------------
    async def finish(self, txn_id: str, kind: str, wallet: Wallet, amount: Money, proof: tuple[bytes, bytes],
                     old_balance: int, masked: str) -> WalletOutcome:
        """The card applied it (`proof`: MAC2, TAC|MAC3): journal that, then confirm."""
        new_balance = Money(old_balance + (amount.fen if kind == "load" else -amount.fen))
        self.journal.set_state(txn_id, "card_done", proof=proof_fields(kind, *proof), new_balance=new_balance.fen)
        reference = await self._confirm(txn_id, kind)
        return WalletOutcome(txn_id, kind, True, wallet, amount, new_balance, masked, reference=reference)

    async def _confirm(self, txn_id: str, kind: str) -> str:
        """Tell the card centre what the card did; retried by the settler if it
        cannot be reached (the card is already written: this must arrive)."""
        entry = self.journal.get(txn_id)
        assert entry is not None
        try:
            reply = await self.session.with_sign_on(
                lambda: self.centre.confirm(kind, txn_id, entry.detail["proof"]))
        except KioskError as exc:
            log.warning("%s %s written to the card; confirmation waits: %s", kind, txn_id, exc)
            self.journal.set_state(txn_id, "confirming")
            self.settling.wake()
            return str(entry.detail.get("reference", ""))
        reference = str(reply.get("reference") or entry.detail.get("reference", ""))
        self.journal.set_state(txn_id, "completed", reference=reference)
        self.queue_copy(txn_id)
        return reference

    async def cancel_now(self, kind: str, txn_id: str, reason: str) -> None:
        """The card provably did not apply it: undo it at the card centre."""
        self.journal.set_state(txn_id, "cancelling", reason=reason)
        entry = self.journal.get(txn_id)
        assert entry is not None      # recorded before the card write
        if not await self._cancel(entry):
            self.settling.wake()

    async def _cancel(self, entry: JournalEntry) -> bool:
        kind = entry.kind.removeprefix("wallet_")
        try:
            status = await self.session.with_sign_on(
                lambda: self.centre.cancel(kind, entry.txn_id, str(entry.detail.get("reason", ""))))
        except KioskError as exc:
            log.info("cancel of %s not acknowledged yet: %s", entry.txn_id, exc)
            return False
        self.journal.set_state(entry.txn_id, "cancelled", cancel=status)
        self.queue_copy(entry.txn_id)
        return True

    # --- a card presented with a transaction pending ---------------------------------------
    async def resolve_pending(self, session: CardSession, pending: PendingTxn) -> bool:
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
                detail["cancel"] = await self.session.with_sign_on(
                    lambda: self.centre.cancel(kind, txn_id, "card did not apply it"))
                state = "cancelled"
            else:
                reply = await self.session.with_sign_on(
                    lambda: self.centre.confirm(kind, txn_id, proof_fields(kind, *proof)))
                if reply.get("reference"):    # a purchase's reference comes with its confirm
                    detail["reference"] = str(reply.get("reference"))
                state = "completed"
        except KioskError as exc:
            log.warning("pending %s %s on card %s not settled yet: %s", kind, txn_id, session.serial, exc)
            return False
        if mine:    # another kiosk's copy is that kiosk's to send (it asks cards/status)
            self.journal.set_state(txn_id, state, **detail)
            self.queue_copy(txn_id)
        log.warning("pending %s %s on card %s settled: %s", kind, txn_id, session.serial, state)
        return True

    # --- the settling task's pass -------------------------------------------------------
    async def settle_once(self) -> bool:
        """Cancels and confirmations that have not been acknowledged yet; then
        what became of the transactions left pending here."""
        for entry in self.entries("cancelling"):
            if not await self._cancel(entry):
                return False
        for entry in self.entries("confirming"):
            kind = entry.kind.removeprefix("wallet_")
            try:
                reply = await self.session.with_sign_on(
                    lambda: self.centre.confirm(kind, entry.txn_id, entry.detail["proof"]))
            except KioskError as exc:
                log.info("confirmation of %s not acknowledged yet: %s", entry.txn_id, exc)
                return False
            self.journal.set_state(entry.txn_id, "completed",
                                   reference=str(reply.get("reference") or entry.detail.get("reference", "")))
            self.queue_copy(entry.txn_id)
        return await self._ask_left_pending()

    async def _ask_left_pending(self) -> bool:
        """Transactions left pending here (the card never came back) that were
        settled since: the card was presented at another kiosk, or staff acted.
        Their final result comes from the card centre and their copy goes like
        any other. Asked at most every LEFT_PENDING_ASK_S, a failed ask
        included: the settler's back-off passes do not hammer the host."""
        entries = self.entries("left_pending")
        now = time.monotonic()
        if not entries or (self._left_pending_asked is not None
                           and now - self._left_pending_asked < LEFT_PENDING_ASK_S):
            return True
        self._left_pending_asked = now
        for start in range(0, len(entries), STATUS_MAX_IDS):
            batch = [e.txn_id for e in entries[start:start + STATUS_MAX_IDS]]
            try:
                answers = await self.session.with_sign_on(lambda: self.centre.status(batch))
            except KioskError as exc:
                log.info("status of %d transaction(s) left pending not known yet: %s", len(batch), exc)
                return False
            for answer in answers:
                self._learn_final(str(answer["txn_id"]), str(answer["status"]), answer.get("reference"))
        return True

    def _learn_final(self, txn_id: str, status: str, reference: object) -> None:
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
        self.queue_copy(txn_id)
        log.warning("%s %s left pending was settled elsewhere: %s", entry.kind, txn_id, status)

    # --- helpers ----------------------------------------------------------------------
    def entries(self, *states: str) -> list[JournalEntry]:
        return [e for e in self.journal.in_state(*states) if e.kind in KIND.values()]

    def queue_copy(self, txn_id: str) -> None:
        entry = self.journal.get(txn_id)
        assert entry is not None
        self.journal.queue_backup(txn_id, wallet_copy(entry))
        self.settling.wake()
