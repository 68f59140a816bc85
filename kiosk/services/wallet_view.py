"""What the IC wallet service hands the screens: the card as presented, the
load limits, a transaction's outcome; and the torn transaction it holds."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from common.epurse import TxnType, Wallet
from common.money import Money

# a wallet transaction's kind -> its journal kind
KIND = {"load": "wallet_load", "unload": "wallet_unload", "purchase": "wallet_purchase"}


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
