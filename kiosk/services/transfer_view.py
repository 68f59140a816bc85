"""What the transfer screens see (docs/cards.md "Transfers"): the cards that
can take part, the limits, the pairs allowed and the outcome."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.epurse import Wallet
from common.money import Money

CPU, ONECARD, BANK = "cpu", "onecard", "bank"


@dataclass(frozen=True)
class TransferCard:
    """A card presented for a transfer: an IC card in a reader (a CPU card's
    chosen wallet, or a one-card), or the swiped bank card (masked only)."""
    kind: str                       # cpu | onecard | bank
    card: str                       # CPU serial, one-card UID, or the bank card's masked PAN
    reader: str = ""                # contact | contactless ("" for the bank card)
    wallet: Wallet | None = None    # a CPU card's ED or EP
    balance: Money | None = None    # what the card held when presented

    @property
    def masked(self) -> str:
        """For receipts and screens: the last 4 of a card number, the rest hidden."""
        return self.card if self.kind == BANK else f"****{self.card[-4:]}"


@dataclass(frozen=True)
class TransferLimits:
    per_transfer: Money
    per_card_day: Money


# (source, destination) → None (allowed) or why not (a catalogue key). Bank pairs are
# the existing load and unload flows reached from the transfer screen.
def pair_refusal(src: TransferCard, dst: TransferCard) -> str | None:
    if src.kind == BANK and dst.kind == BANK:
        return "transfer.no_bank_to_bank"
    if (src.kind, src.card) == (dst.kind, dst.card):
        return "transfer.same_card"
    if src.kind == ONECARD and dst.kind == BANK:
        return "transfer.onecard_to_bank"       # the issuer does not refund its purse to a bank card here
    if src.kind == CPU and dst.kind == BANK and src.wallet is not Wallet.ED:
        return "transfer.purse_to_bank"         # only the passbook (ED) unloads to a bank card
    return None


@dataclass(frozen=True)
class TransferOutcome:
    txn_id: str
    state: str                      # completed | declined | cancelled | credit_owed
    amount: Money
    source: TransferCard
    destination: TransferCard
    decline_code: str = ""
    reference: str = ""
    src_balance_after: Money | None = None
    dst_balance_after: Money | None = None

    @property
    def approved(self) -> bool:
        return self.state == "completed"


@dataclass(frozen=True)
class TornTransfer:
    """The transfer whose card left during its write, while this kiosk awaits that card."""
    txn_id: str
    leg: str                        # debit | credit
    card: TransferCard


def card_json(card: TransferCard) -> dict[str, Any]:
    """A side of a transfer as the journal keeps it."""
    return {"kind": card.kind, "card": card.card, "reader": card.reader,
            "wallet": card.wallet.name if card.wallet is not None else None}


def card_from_json(d: dict[str, Any]) -> TransferCard:
    return TransferCard(str(d["kind"]), str(d["card"]), str(d.get("reader", "")),
                        Wallet[d["wallet"]] if d.get("wallet") else None)
