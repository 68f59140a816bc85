"""Tear recovery, which never guesses (DESIGN §3): a card that left during its
write may or may not have applied it. The same card, presented again, is
asked with GET TRANSACTION PROVE: written -> confirm, not written -> cancel.
A card that does not come back is left pending at the card centre, which
settles it when the card is next presented, here or at another kiosk."""
from __future__ import annotations

import asyncio
import logging

from common.epurse import TxnType
from kiosk.domain.errors import NotTheSameCard
from kiosk.services.journal import Journal
from kiosk.services.wallet_card import CardAccess
from kiosk.services.wallet_settling import WalletSettling
from kiosk.services.wallet_view import TornTxn, WalletOutcome

log = logging.getLogger(__name__)


class TearRecovery:
    def __init__(self, *, journal: Journal, cards: CardAccess, settling: WalletSettling) -> None:
        self.journal, self.cards, self.settling = journal, cards, settling
        self.torn: TornTxn | None = None

    def hold(self, torn: TornTxn) -> None:
        """A write was torn (journaled `torn`): wait for its card."""
        self.torn = torn

    async def resume(self, reader: str) -> WalletOutcome:
        torn = self.torn
        if torn is None:
            raise RuntimeError("no torn transaction")
        session = await asyncio.to_thread(self.cards.open, reader, None)
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
            await self.settling.cancel_now(torn.kind, torn.txn_id, "card did not apply it")
            return WalletOutcome(torn.txn_id, torn.kind, False, torn.wallet, torn.amount,
                                 masked_pan=entry.masked_pan, decline_code="card_not_written")
        return await self.settling.finish(torn.txn_id, torn.kind, torn.wallet, torn.amount, proof,
                                          int(entry.detail["balance"]), entry.masked_pan)

    async def abandon(self) -> None:
        """The card did not come back in time: the card centre keeps the
        transaction pending and settles it when the card is next presented."""
        torn, self.torn = self.torn, None
        if torn is not None:
            self.journal.set_state(torn.txn_id, "left_pending", reason="card not returned")
            log.warning("%s %s left pending at the card centre (card %s not returned)",
                        torn.kind, torn.txn_id, torn.serial)
