"""Money between two IC cards (转账; docs/cards.md "Transfers"): the source's
debit first (a CPU card's purchase under the host's MAC1, proven by its TAC
and MAC2; a one-card's tear-safe purse debit, record type 08), then the
destination's credit (a CPU card's load under the host's MAC2, proven by its
TAC; a one-card's purse credit, record type 07). The host records one
transfer with both legs and rules on each from the card's proof.

Journal first (journal_transfers.py): the transfer before its authorise
leaves, each card write before it is sent. A card that leaves during its write
is torn: the same card back, its proof decides (GET TRANSACTION PROVE, or the
one-card's figures after its own recovery); never a guess. A source debited
whose destination was not credited: the credit is owed, and made when the
destination is next presented, at any kiosk (`settle_owed`). The torn card
back and what is owed at a presentation: transfer_proofs.py.
Bank pairs are not here: they are the wallet's load and unload
(transfer_bank.py)."""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from common.epurse import TxnType, Wallet
from common.money import Money
from kiosk.backend_client.onecard import OneCardClient
from kiosk.backend_client.transfers import TransferClient
from kiosk.devices.ports import IcReader, ReceiptPrinter
from kiosk.domain.errors import (CardTorn, KioskError, NotTheSameCard, OneCardRefused, PaymentsSuspended, ReaderFault)
from kiosk.services.journal import Journal, JournalEntry
from kiosk.services.journal_transfers import TRANSFER_KIND
from kiosk.services.receipts import print_logged
from kiosk.services.transfer_proofs import TransferProofs
from kiosk.services.transfer_receipt import bank_pair_receipt, transfer_receipt
from kiosk.domain.receipt import Receipt
from kiosk.services.ports import HostSessionPort, SettlingPort
from kiosk.services.transfer_bank import BankPairs
from kiosk.services.transfer_cards import CpuSession, OneCardLeg, is_onecard, open_cpu
from kiosk.services.transfer_view import (BANK, CPU, ONECARD, TornTransfer, TransferCard, TransferLimits,
                                          TransferOutcome, card_from_json, card_json, pair_refusal)

log = logging.getLogger(__name__)


class TransferService(TransferProofs):
    def __init__(self, *, kiosk_id: str, term_id: bytes, journal: Journal, client: TransferClient,
                 onecard: OneCardClient, session: HostSessionPort, settling: SettlingPort,
                 readers: Mapping[str, IcReader], limits: TransferLimits, now: Callable[[], datetime],
                 printer: ReceiptPrinter | None = None, estate: str = "") -> None:
        self.kiosk_id, self.term_id, self.journal, self.client = kiosk_id, term_id, journal, client
        self.printer, self.estate = printer, estate
        self.onecard, self.session, self.settling, self._readers = onecard, session, settling, readers
        self.limits, self._now = limits, now
        self.bank_pairs: BankPairs | None = None   # the bank card as a side (transfer_bank.py), set by bootstrap
        self._leg_id = ""                           # the one-card leg the purse's steps belong to
        self.torn: TornTransfer | None = None       # a card that left during its write, awaited here
        settling.add_settler(self.settle)

    @property
    def readers(self) -> tuple[str, ...]:
        return tuple(self._readers)

    def _reader(self, name: str) -> IcReader:
        try:
            return self._readers[name]
        except KeyError:
            raise ReaderFault(f"no IC card reader named {name!r}") from None

    def recover_at_start(self) -> None:
        """A crash: an authorise that may have left is cancelled (no card was
        written before its approval); a write under way waits for its card."""
        for entry in self._entries("sending"):
            self.journal.set_state(entry.txn_id, "cancelling", reason="kiosk restarted")
        for entry in self._entries("debiting", "crediting"):
            self.journal.set_state(entry.txn_id, entry.state.replace("ing", "_torn"), reason="kiosk restarted")

    # --- the cards ------------------------------------------------------------------
    def ceiling(self, src: TransferCard, dst: TransferCard) -> Money:
        """The most a resident may move from `src` to `dst` here: the per-transfer
        limit and the source's balance, and for a bank pair (a load or an unload)
        the wallet's load bound too. The host checks its own limits again."""
        high = self.limits.per_transfer if src.balance is None else min(self.limits.per_transfer, src.balance)
        if BANK in (src.kind, dst.kind) and self.bank_pairs is not None:
            high = min(high, self.bank_pairs.wallet.limits.max_load)
        return high

    # --- a torn transfer or bank pair: the one card awaited back -------------------------
    @property
    def awaited_card(self) -> TransferCard | None:
        """The card a torn write awaits back: a transfer's (`torn`) or a bank pair's."""
        if self.torn is not None:
            return self.torn.card
        return self.bank_pairs.torn_card if self.bank_pairs is not None else None

    async def resume_awaited(self, reader: str) -> TransferOutcome:
        """The awaited card is back in `reader`: its proof decides (the transfer's,
        or for a bank pair the wallet's or one-card's own recovery)."""
        if self.torn is None and self.bank_pairs is not None and self.bank_pairs.torn_card is not None:
            return await self.bank_pairs.resume_torn(reader)
        return await self.resume_torn(reader)

    async def give_up_awaited(self) -> None:
        """The card did not come back: settled at its next presentation."""
        self.abandon_torn()
        if self.bank_pairs is not None and self.bank_pairs.torn_card is not None:
            await self.bank_pairs.abandon_torn()

    async def card_in(self, reader: str, wallet: Wallet = Wallet.EP) -> TransferCard:
        """The card in a reader as a transfer's side (a CPU card's `wallet`)."""
        await self.session.ensure_signed_on()
        if await asyncio.to_thread(is_onecard, self._reader(reader)):
            leg = await self._open_onecard(reader)
            try:
                balance, _ = leg.figures()
                return TransferCard(ONECARD, leg.uid, reader, None, Money(balance))
            finally:
                await asyncio.to_thread(leg.close)
        s = await asyncio.to_thread(open_cpu, self._reader(reader))
        try:
            return TransferCard(CPU, s.serial, reader, wallet, Money(await asyncio.to_thread(s.balance, wallet)))
        finally:
            await asyncio.to_thread(s.close)

    async def scan(self) -> tuple[list[TransferCard], tuple[str, ...]]:
        """The cards in the readers now (a CPU card's purse, EP), each read and
        what it has open settled (credits owed made, debits in doubt decided):
        the cards as they now stand and the transfers settled."""
        found: list[TransferCard] = []
        settled: list[str] = []
        for reader in self.readers:
            if not await asyncio.to_thread(self._reader(reader).card_present):
                continue
            card = await self.card_in(reader)
            done = await self.settle_owed(card)
            found.append(await self.card_in(reader) if done else card)
            settled += done
        return found, tuple(settled)

    async def _open_onecard(self, reader: str, expect: str | None = None) -> OneCardLeg:
        leg = await asyncio.to_thread(OneCardLeg, self._reader(reader), self._on_step)
        try:
            if expect is not None and leg.uid != expect:
                raise NotTheSameCard(leg.uid)
            keys = await self.onecard.keys(leg.uid)
            if keys is None:
                raise OneCardRefused(leg.uid, "unknown_onecard")
            leg.add_keys(keys)
            p = await asyncio.to_thread(leg.present, self.term_id, self._stamp())
            if p.refused or p.info is None or p.balance is None:
                raise OneCardRefused(leg.uid, "mirror_mismatch")
        except BaseException:
            await asyncio.to_thread(leg.close)
            raise
        return leg

    def _stamp(self) -> datetime:
        return self._now().replace(microsecond=0)

    # --- a transfer -------------------------------------------------------------------
    async def transfer(self, src: TransferCard, dst: TransferCard, amount: Money,
                       card_pin: str | None = None) -> TransferOutcome:
        """Move `amount` from `src` to `dst` (both in their readers). A refused
        pair or a host decline is an outcome; CardTorn when a card left during
        its write (`torn` says which: put the same card back)."""
        if amount.fen <= 0:
            raise ValueError("an amount is at least 0.01")
        refusal = pair_refusal(src, dst)
        if refusal is not None:
            return TransferOutcome("", "declined", amount, src, dst, decline_code=refusal.split(".")[1])
        if amount > self.limits.per_transfer:     # before any card is touched; the host rules on the rest
            return TransferOutcome("", "declined", amount, src, dst, decline_code="transfer_limit")
        if self.settling.suspended:
            raise PaymentsSuspended("a reversal or a confirmation is pending")
        await self.session.ensure_signed_on()
        now = self._stamp()
        txn_id = f"{self.kiosk_id}-X{now:%Y%m%d%H%M%S}-{secrets.token_hex(3).upper()}"
        request: dict[str, Any] = {"txn_id": txn_id, "amount_fen": amount.fen, "src_kind": src.kind,
                                   "src_card": src.card, "dst_kind": dst.kind, "dst_card": dst.card}
        if dst.wallet is not None:
            request["dst_wallet"] = dst.wallet.name
        detail: dict[str, Any] = {"src": card_json(src), "dst": card_json(dst), "at": now.isoformat()}
        cpu: CpuSession | None = None
        one: OneCardLeg | None = None
        try:
            if src.kind == CPU:
                assert src.wallet is not None
                cpu = await asyncio.to_thread(open_cpu, self._reader(src.reader), src.card)
                init = await asyncio.to_thread(cpu.init_debit, src.wallet, amount.fen, self.term_id, card_pin)
                term_txn_no = self.journal.next_counter() & 0xFFFFFFFF
                request.update(src_wallet=src.wallet.name, src_balance_fen=init.balance, src_counter=init.counter,
                               src_random=init.random.hex().upper(), src_term_txn_no=term_txn_no,
                               term_id=self.term_id.hex().upper(), when=f"{now:%Y%m%d%H%M%S}")
                detail.update(src_balance=init.balance, src_counter=init.counter, term_txn_no=term_txn_no,
                              src_type=int(TxnType.purchase(src.wallet)))
            else:
                one = await self._open_onecard(src.reader, src.card)
                balance, count = one.figures()
                request.update(src_balance_fen=balance, src_counter=count)
                detail.update(src_balance=balance, src_counter=count)
            self.journal.transfer_record(txn_id, amount_fen=amount.fen, detail=detail)
            reply, keys = await self.settling.send_journaled(
                txn_id, lambda: self.client.authorise(request), undo="cancelling",
                renewed="working keys renewed: try again")
            if reply["result"] != "approved":
                code = str(reply.get("code", "declined"))
                self.journal.set_state(txn_id, "declined", code=code)
                return TransferOutcome(txn_id, "declined", amount, src, dst, decline_code=code)
            self.journal.set_state(txn_id, "debiting", reference=reply.get("reference", ""))
            self.journal.transfer_step(txn_id, src.card, "debit", amount.fen)
            try:
                if cpu is not None:
                    tac, mac2 = await asyncio.to_thread(cpu.debit, int(request["src_term_txn_no"]), now,
                                                        bytes.fromhex(reply["mac1"]))
                    proof: dict[str, Any] = {"tac": tac.hex().upper(), "mac2": mac2.hex().upper()}
                    after = int(request["src_balance_fen"]) - amount.fen
                else:
                    assert one is not None
                    proof, after = await self._write_onecard(one, keys, str(reply.get("leg_txn_id", "")), False,
                                                               amount.fen, now)
            except KioskError as exc:
                self._tear(txn_id, "debit", src, exc)
            self.journal.set_state(txn_id, "confirming", step="debit", proof=proof, src_balance_after=after)
        finally:
            await self._release(cpu, one)
        await self._send(txn_id)
        return await self._credit(txn_id, card_pin)

    async def _write_onecard(self, one: OneCardLeg, keys: Any, leg_txn_id: str, credit: bool, fen: int,
                             now: datetime) -> tuple[dict[str, Any], int]:
        """A one-card leg's purse write with the keys the host sent: its proof and the balance after."""
        one.add_keys(keys)
        self._leg_id = leg_txn_id
        result = await asyncio.to_thread(one.write, credit, fen, self.term_id, now)
        return {"balance_fen": result.balance_after, "card_counter": result.count}, result.balance_after

    async def _release(self, *held: CpuSession | OneCardLeg | None) -> None:
        """The cards' sessions of a leg closed, whatever happened."""
        self._leg_id = ""
        for card in held:
            if card is not None:
                await asyncio.to_thread(card.close)

    def _tear(self, txn_id: str, leg: str, card: TransferCard, exc: Exception) -> None:
        self.journal.set_state(txn_id, f"{leg}_torn", reason=type(exc).__name__)
        self.torn = TornTransfer(txn_id, leg, card)
        raise CardTorn(card.card, f"{card.kind} card {card.card} left during the {leg} of {txn_id}") from exc

    async def _credit(self, txn_id: str, card_pin: str | None = None) -> TransferOutcome:
        """The destination's credit: asked of the host with the card's figures, written, proven."""
        entry = self._entry(txn_id)
        dst, amount = card_from_json(entry.detail["dst"]), Money(entry.amount_fen)
        if entry.state not in ("debited", "credit_owed"):
            return self._outcome(txn_id)
        now = self._stamp()
        cpu: CpuSession | None = None
        one: OneCardLeg | None = None
        try:
            if dst.kind == CPU:
                assert dst.wallet is not None
                cpu = await asyncio.to_thread(open_cpu, self._reader(dst.reader), dst.card)
                init = await asyncio.to_thread(cpu.init_credit, dst.wallet, amount.fen, self.term_id, card_pin)
                figures: dict[str, Any] = {"balance_fen": init.balance, "card_counter": init.counter,
                                           "random": init.random.hex().upper(), "mac1": init.mac1.hex().upper(),
                                           "term_id": self.term_id.hex().upper(), "when": f"{now:%Y%m%d%H%M%S}"}
            else:
                one = await self._open_onecard(dst.reader, dst.card)
                balance, count = one.figures()
                figures = {"balance_fen": balance, "card_counter": count}
            reply, keys = await self.session.with_sign_on(lambda: self.client.credit(txn_id, figures))
            if reply["result"] != "approved":
                self.journal.set_state(txn_id, "credit_owed", code=str(reply.get("code", "")))
                return self._outcome(txn_id)
            self.journal.set_state(txn_id, "crediting", dst_balance=figures["balance_fen"],
                                   dst_counter=figures["card_counter"], leg=reply.get("leg_txn_id", ""))
            self.journal.transfer_step(txn_id, dst.card, "credit", amount.fen)
            try:
                if cpu is not None:
                    tac = await asyncio.to_thread(cpu.credit, now, bytes.fromhex(reply["mac2"]))
                    proof: dict[str, Any] = {"tac": tac.hex().upper()}
                    after = int(figures["balance_fen"]) + amount.fen
                else:
                    assert one is not None
                    proof, after = await self._write_onecard(one, keys, str(reply.get("leg_txn_id", "")), True,
                                                               amount.fen, now)
            except KioskError as exc:
                self._tear(txn_id, "credit", dst, exc)
            self.journal.set_state(txn_id, "confirming", step="credit", proof=proof, dst_balance_after=after)
        finally:
            await self._release(cpu, one)
        await self._send(txn_id)
        return self._outcome(txn_id)

    # --- receipts ----------------------------------------------------------------------
    def receipt_for(self, txn_id: str, *, reprint: bool = False) -> Receipt:
        """A transfer's receipt; a bank pair's (its load's or unload's entry) in the same words."""
        entry = self.journal.get(txn_id)
        if entry is not None and entry.kind != TRANSFER_KIND:
            return bank_pair_receipt(entry, self.estate, self.kiosk_id, reprint=reprint)
        return transfer_receipt(self._entry(txn_id), self.estate, self.kiosk_id, reprint=reprint)

    async def print_receipt(self, txn_id: str) -> bool:
        """True if printed; a failure is logged, never raised (receipts can be reprinted)."""
        if self.printer is None:
            return False
        return await print_logged(self.printer, self.receipt_for(txn_id))

    # --- the settling task's part ------------------------------------------------------------
    async def _send(self, txn_id: str) -> None:
        entry = self._entry(txn_id)
        try:
            await self._send_entry(entry)
        except KioskError as exc:
            log.warning("transfer %s: %s not acknowledged yet: %s", txn_id, entry.state, exc)
            self.settling.wake()

    async def _send_entry(self, entry: JournalEntry) -> None:
        txn_id, d = entry.txn_id, entry.detail
        if entry.state == "confirming":
            step: Literal["debit", "confirm"] = "debit" if d.get("step") == "debit" else "confirm"
            status = await self.session.with_sign_on(lambda: self.client.proof(step, txn_id, d["proof"]))
            self.journal.set_state(txn_id, "debited" if step == "debit" and status == "debited" else "completed")
        elif entry.state == "cancelling":
            status = await self.session.with_sign_on(lambda: self.client.cancel(
                txn_id, str(d.get("reason", "the source did not apply it"))))
            self.journal.set_state(txn_id, "credit_owed" if status == "credit_owed" else "cancelled",
                                   cancel=status)

    async def settle(self) -> bool:
        """Send the proofs and cancels owed; True when none is left."""
        done = True
        for entry in self._entries("confirming", "cancelling"):
            try:
                await self._send_entry(entry)
            except KioskError as exc:
                log.info("transfer %s %s not acknowledged yet: %s", entry.state, entry.txn_id, exc)
                self.settling.wake()
                done = False
        return done

    def _entries(self, *states: str) -> list[JournalEntry]:
        return [e for e in self.journal.in_state(*states) if e.kind == TRANSFER_KIND]

    def _entry(self, txn_id: str) -> JournalEntry:
        entry = self.journal.get(txn_id)
        if entry is None or entry.kind != TRANSFER_KIND:
            raise KeyError(f"no transfer {txn_id}")
        return entry

    def _outcome(self, txn_id: str) -> TransferOutcome:
        e = self._entry(txn_id)
        d = e.detail
        state = {"debited": "credit_owed", "confirming": "completed"}.get(e.state, e.state)
        if state not in ("completed", "declined", "cancelled", "credit_owed"):
            state = "credit_owed" if "src_balance_after" in d else "cancelled"
        return TransferOutcome(txn_id, state, Money(e.amount_fen), card_from_json(d["src"]), card_from_json(d["dst"]),
                               decline_code=str(d.get("code", "")), reference=str(d.get("reference", "")),
                               src_balance_after=Money(int(d["src_balance_after"])) if "src_balance_after" in d
                               else None,
                               dst_balance_after=Money(int(d["dst_balance_after"])) if "dst_balance_after" in d
                               else None)

    def _on_step(self, uid: bytes, step: Any, amount: int) -> None:
        self.journal.onecard_step(self._leg_id, uid.hex().upper(), int(step), amount)

