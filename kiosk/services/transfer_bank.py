"""The bank card as a side of a transfer (docs/cards.md §7 "Pairs"): bank →
CPU card is the IC wallet's load, CPU passbook → bank its unload, bank →
one-card the one-card's load. Not copies: WalletService and OneCardService
run them with their own journal entries, tear recovery and host records (the
card centre's bank leg + card leg, or the one-card's authorise of kind load,
is the transfer's record). This part picks the flow, checks the card in the
reader is the one chosen, and says the answer as a TransferOutcome; the
receipt names both cards masked (transfer_receipt.bank_pair_receipt)."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from common.bank_card import CardSwipe
from common.epurse import Wallet
from common.money import Money
from kiosk.domain.errors import NotTheSameCard, OutcomeUnknown
from kiosk.services.transfer_view import BANK, CPU, ONECARD, TransferCard, TransferOutcome, pair_refusal

if TYPE_CHECKING:
    from kiosk.services.onecard import OneCardOutcome, OneCardService
    from kiosk.services.wallet import WalletService
    from kiosk.services.wallet_view import WalletOutcome


class BankPairs:
    def __init__(self, wallet: WalletService, onecard: OneCardService | None) -> None:
        self.wallet, self.onecard = wallet, onecard
        self._pending: tuple[TransferCard, TransferCard] | None = None   # the pair whose card left mid-write

    @staticmethod
    def needs_pin(src: TransferCard) -> bool:
        """Whether the bank card's PIN is asked: for paying from it (a load), not for paying to it."""
        return src.kind == BANK

    async def transfer(self, src: TransferCard, dst: TransferCard, amount: Money, swipe: CardSwipe,
                       pin_block: bytes | None, card_pin: str | None = None) -> TransferOutcome:
        """Run the pair's flow; CardTorn (from the flow) when the IC card left during its write
        (`resume_torn` with it back)."""
        bank = TransferCard(BANK, swipe.masked_pan)
        src, dst = (bank, dst) if src.kind == BANK else (src, bank)
        refusal = pair_refusal(src, dst)
        if refusal is not None:
            return TransferOutcome("", "declined", amount, src, dst, decline_code=refusal.split(".")[1])
        self._pending = (src, dst)
        if dst.kind == CPU:
            assert pin_block is not None
            view = await self.wallet.present(dst.reader)
            if view.serial != dst.card:
                raise NotTheSameCard(view.serial)
            wallet = dst.wallet or Wallet.EP
            return self._said(await self.wallet.load(view, wallet, amount, swipe, pin_block, card_pin))
        if dst.kind == ONECARD:
            assert pin_block is not None and self.onecard is not None
            seen = await self.onecard.present()
            if seen.uid != dst.card:
                raise NotTheSameCard(seen.uid)
            return self._said(await self.onecard.load(amount, swipe, pin_block))
        if card_pin is None:                      # the passbook's unload: the card's PIN, never the bank's
            raise ValueError("an unload to a bank card needs the IC card's PIN")
        view = await self.wallet.present(src.reader)
        if view.serial != src.card:
            raise NotTheSameCard(view.serial)
        return self._said(await self.wallet.unload(view, amount, card_pin, swipe))

    @property
    def torn_card(self) -> TransferCard | None:
        """The IC card to put back (its flow awaits it), if a bank pair's write was torn."""
        if self._pending is None or not self._is_torn():
            return None
        src, dst = self._pending
        return src if src.kind != BANK else dst

    def _is_torn(self) -> bool:
        return self.wallet.torn is not None or (self.onecard is not None and self.onecard.torn is not None)

    async def resume_torn(self, reader: str) -> TransferOutcome:
        """The torn IC card is back: its own flow's recovery decides (never a guess)."""
        if self.wallet.torn is not None:
            return self._said(await self.wallet.resume_torn(reader))
        if self.onecard is not None and self.onecard.torn is not None:
            return self._said(await self.onecard.resume_torn())
        raise OutcomeUnknown("no bank pair awaits its card")

    async def abandon_torn(self) -> None:
        """Not back: settled at the card's next presentation, as its own flow does."""
        if self.wallet.torn is not None:
            await self.wallet.abandon_torn()
        if self.onecard is not None and self.onecard.torn is not None:
            self.onecard.abandon_torn()
        self._pending = None

    def _said(self, out: WalletOutcome | OneCardOutcome) -> TransferOutcome:
        assert self._pending is not None
        src, dst = self._pending
        balance = out.new_balance if hasattr(out, "new_balance") else out.balance_after
        if src.kind == BANK:
            src, dst = replace(src, card=out.masked_pan or src.card), dst
        else:
            dst = replace(dst, card=out.masked_pan or dst.card)
        self._pending = None if out.approved or not self._is_torn() else self._pending
        return TransferOutcome(out.txn_id, "completed" if out.approved else "declined", out.amount, src, dst,
                               decline_code=out.decline_code or "", reference=out.reference,
                               src_balance_after=balance if src.kind != BANK else None,
                               dst_balance_after=balance if dst.kind != BANK else None)
