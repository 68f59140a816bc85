"""The proof-and-settling half of a transfer (docs/cards.md §7 "Faults"): a
card that left during its write, back in its reader (its own proof decides
the torn leg: GET TRANSACTION PROVE, or the one-card's figures after its own
recovery; never a guess), and what the host holds open for a card presented
at any kiosk (`settle_owed`: a debit in doubt decided by the card's proof, a
credit owed made). TransferService (transfer.py) is built on it: this part
uses its journal, client, readers and legs."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from common.epurse import TxnType, Wallet
from kiosk.backend_client.transfers import Owed, TransferClient
from kiosk.devices.ports import IcReader
from kiosk.domain.errors import KioskError, OutcomeUnknown
from kiosk.services.journal import Journal, JournalEntry
from kiosk.services.ports import HostSessionPort
from kiosk.services.transfer_cards import OneCardLeg, open_cpu
from kiosk.services.transfer_view import CPU, TornTransfer, TransferCard, TransferOutcome, card_json
from kiosk.services.card_presentation import Settle

log = logging.getLogger(__name__)


class TransferProofs:
    journal: Journal
    client: TransferClient
    session: HostSessionPort
    torn: TornTransfer | None

    # TransferService's
    def _reader(self, name: str) -> IcReader:
        raise NotImplementedError

    def _entry(self, txn_id: str) -> JournalEntry:
        raise NotImplementedError

    def _outcome(self, txn_id: str) -> TransferOutcome:
        raise NotImplementedError

    async def _open_onecard(self, reader: str, expect: str | None = None) -> OneCardLeg:
        raise NotImplementedError

    async def _send(self, txn_id: str) -> None:
        raise NotImplementedError

    async def _credit(self, txn_id: str, card_pin: str | None = None) -> TransferOutcome:
        raise NotImplementedError

    async def card_in(self, reader: str, wallet: Wallet = Wallet.EP) -> TransferCard:
        raise NotImplementedError

    # --- a card torn here: the same card back --------------------------------------------
    async def resume_torn(self, reader: str, card_pin: str | None = None) -> TransferOutcome:
        """The torn card is back in `reader`: its proof decides the torn leg;
        then the transfer goes on (a debit proven → the credit; a credit not
        applied → tried again). NotTheSameCard for another card."""
        torn = self.torn
        if torn is None:
            raise OutcomeUnknown("no transfer awaits its card")
        entry = self._entry(torn.txn_id)
        applied = await self._applied(entry, torn.leg, reader, torn.card)
        self.torn = None
        if torn.leg == "debit":
            if not applied:
                self.journal.set_state(torn.txn_id, "cancelling", reason="the source did not apply the debit")
                await self._send(torn.txn_id)
                return self._outcome(torn.txn_id)
            await self._send(torn.txn_id)
        elif not applied:
            self.journal.set_state(torn.txn_id, "credit_owed", reason="the destination did not apply the credit")
            await self.session.with_sign_on(lambda: self.client.cancel(torn.txn_id, "credit not applied"))
        else:
            await self._send(torn.txn_id)
            return self._outcome(torn.txn_id)
        return await self._credit(torn.txn_id, card_pin)

    async def _applied(self, entry: JournalEntry, leg: str, reader: str, card: TransferCard) -> bool:
        """Whether the card applied its leg, from its own proof; journaled `confirming` if it did."""
        d, amount = entry.detail, entry.amount_fen
        before = int(d["src_balance" if leg == "debit" else "dst_balance"])
        counter = int(d["src_counter" if leg == "debit" else "dst_counter"])
        if card.kind == CPU:
            assert card.wallet is not None
            s = await asyncio.to_thread(open_cpu, self._reader(reader), card.card)
            try:
                txn_type = TxnType.purchase(card.wallet) if leg == "debit" else TxnType.load(card.wallet)
                found = await asyncio.to_thread(s.proof, txn_type, counter)
            finally:
                await asyncio.to_thread(s.close)
            if found is None:
                return False
            mac2, tac = found
            proof: dict[str, Any] = {"tac": tac.hex().upper(), "mac2": mac2.hex().upper()} if leg == "debit" \
                else {"tac": tac.hex().upper()}
            after = before - amount if leg == "debit" else before + amount
        else:
            one = await self._open_onecard(reader, card.card)      # its own recovery runs here
            try:
                balance, count = one.figures()
            finally:
                await asyncio.to_thread(one.close)
            after = before - amount if leg == "debit" else before + amount
            if (balance, count) == (before, counter):
                return False
            if (balance, count) != (after, (counter + 1) % 65536):
                raise OutcomeUnknown(f"one-card {card.card} holds {balance} after {count}: staff must look")
            proof = {"balance_fen": balance, "card_counter": count}
        self.journal.set_state(entry.txn_id, "confirming", step=leg, proof=proof,
                               **{"src_balance_after" if leg == "debit" else "dst_balance_after": after})
        return True

    def abandon_torn(self) -> None:
        """The card did not come back: a torn debit is settled when the source is
        next presented; a torn credit when the destination is (the credit is owed)."""
        self.torn = None

    # --- owed at a presentation (any kiosk) ------------------------------------------------
    async def owed_at_presentation(self, kind: str, card: str, reader: str) -> Settle | None:
        """A card presented outside the transfer flow (the card screen's read,
        WalletService / OneCardService.at_presentation), by what that read found:
        one `owed` message and no card I/O. None when nothing is owed (or the host
        is out of reach: logged, what is owed stays owed for the next presentation);
        else the settling, for the presenter to run once its own card session is
        closed (it opens the card itself, as settle_owed does). A failure there
        (a card pulled, the host gone) is logged and the presentation goes on."""
        try:
            await self.session.ensure_signed_on()
            owed = await self.session.with_sign_on(lambda: self.client.owed(kind, card))  # type: ignore[arg-type]
        except KioskError as exc:
            log.warning("transfers owed to %s card %s not asked now: %s", kind, card, exc)
            return None
        if not owed:
            return None
        here = TransferCard(kind, card, reader)

        async def settle() -> tuple[str, ...]:
            try:
                return await self._settle_owed(here, owed)
            except KioskError as exc:
                # a card pulled mid-write is not awaited here: the card screen does not
                # ask for it back; its next presentation decides from its proof
                self.torn = None
                log.warning("transfers owed to %s card %s not settled now: %s", kind, card, exc)
                return ()
        return settle

    async def settle_owed(self, card: TransferCard) -> tuple[str, ...]:
        """What the host holds open for this card (it must stay in its reader),
        settled now: a debit in doubt (the card's proof decides: proven → the
        credit is owed to the other card; not applied → cancelled) and a credit
        owed (an earlier attempt's proof first, then the credit made). The ids
        of the transfers settled."""
        owed = await self.session.with_sign_on(lambda: self.client.owed(card.kind, card.card))  # type: ignore[arg-type]
        return await self._settle_owed(card, owed)

    async def _settle_owed(self, card: TransferCard, owed: list[Owed]) -> tuple[str, ...]:
        done: list[str] = []
        for one in owed:
            txn_id, leg, role = one["txn_id"], one["leg"], one["role"]
            wallet = one["dst_wallet"] if role == "credit" else one["src_wallet"]
            here = replace(card, wallet=Wallet[wallet] if wallet else None)
            if self.journal.get(txn_id) is None:     # another kiosk's transfer, settled here
                other = {"kind": "", "card": "", "reader": "", "wallet": None}
                self.journal.transfer_record(txn_id, amount_fen=one["amount_fen"], detail={
                    "src": card_json(here) if role == "debit" else other,
                    "dst": card_json(here) if role == "credit" else other, "found_at_presentation": True})
            side = "src" if role == "debit" else "dst"
            self.journal.set_state(txn_id, f"{role}_torn", **{side: card_json(here)})
            if leg is not None and leg["state"] == "authorised":
                self.journal.set_state(txn_id, f"{role}_torn", **{f"{side}_balance": leg["balance_before"],
                                                                  f"{side}_counter": leg["counter"]})
                if await self._applied(self._entry(txn_id), role, here.reader, here):
                    await self._send(txn_id)
                    done.append(txn_id)
                    continue
                if role == "debit":
                    self.journal.set_state(txn_id, "cancelling", reason="the source did not apply the debit")
                    await self._send(txn_id)
                    done.append(txn_id)
                    continue
                await self.session.with_sign_on(lambda: self.client.cancel(txn_id, "credit not applied"))
            if role == "credit":
                self.journal.set_state(txn_id, "credit_owed")
                if (await self._credit(txn_id)).state == "completed":
                    done.append(txn_id)
        return tuple(done)
