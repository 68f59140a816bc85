"""What the card services screens show, as plain values (tested without Kivy):
the card number grouped for reading, history lines in words with a sign, the
amount keypad's text, and the amount checks that refuse what the wallet
service would refuse anyway -- before anything happens."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from common.epurse import TxnType, Wallet
from common.money import Money
from kiosk.i18n import tr

if TYPE_CHECKING:
    from kiosk.services.wallet_view import CardView, HistoryLine, WalletLimits

MAX_WHOLE_DIGITS = 6          # ¥999,999 at most on the keypad: far above any wallet's maximum
UNLOAD_MIN = Money(1)
CREDITS = (TxnType.ED_LOAD, TxnType.EP_LOAD)   # money onto the card; everything else leaves it


def group_serial(serial: str) -> str:
    """'00002601000000000001' -> '0000 2601 0000 0000 0001'."""
    return " ".join(serial[i:i + 4] for i in range(0, len(serial), 4))


def serial_tail(serial: str) -> str:
    return serial[-4:]


def wallet_name(wallet: Wallet | str, lang: str) -> str:
    name = wallet.name if isinstance(wallet, Wallet) else wallet
    return tr(f"card.wallet.{name}", lang)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    when: str        # "2026-11-21 14:05"
    what: str        # the type in words
    amount: str      # "+¥100.00" / "-¥85.50"
    credit: bool


def txn_words(txn_type: TxnType | int, lang: str) -> str:
    try:
        return tr(f"card.txn.{TxnType(txn_type).name}", lang)
    except ValueError:
        return tr("card.txn.other", lang)


def history_rows(history: Iterable[HistoryLine], lang: str) -> list[HistoryRow]:
    rows = []
    for line in history:
        credit = line.txn_type in CREDITS
        rows.append(HistoryRow(f"{line.when:%Y-%m-%d %H:%M}", txn_words(line.txn_type, lang),
                               ("+" if credit else "-") + line.amount.display(), credit))
    return rows


# --- the amount keypad ----------------------------------------------------------------
AMOUNT_KEYS = tuple("0123456789.")


def type_amount(text: str, key: str) -> str | None:
    """The display after `key` ("0".."9", ".", "back", "clear"); None if the key
    cannot go there (a second point, a third decimal, too many digits)."""
    if key == "back":
        return text[:-1]
    if key == "clear":
        return ""
    if key not in AMOUNT_KEYS:
        raise ValueError(f"unknown key {key!r}")
    if key == ".":
        if "." in text:
            return None
        return (text or "0") + "."
    whole, _, decimals = text.partition(".")
    if "." in text:
        return text + key if len(decimals) < 2 else None
    if whole == "0":
        return key            # no leading zeros
    return text + key if len(whole) < MAX_WHOLE_DIGITS else None


def parse_amount(text: str) -> Money | None:
    """The typed amount; None when nothing usable is typed ("", ".", "0.")."""
    if not text or text == ".":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return Money.from_decimal(value)


def amount_text(amount: Money) -> str:
    """How a preset appears on the keypad's display: '100' or '50.5'."""
    whole, frac = amount.yuan.split(".")
    return whole if frac == "00" else f"{whole}.{frac.rstrip('0')}"


@dataclass(frozen=True, slots=True)
class Bounds:
    """What one amount may be: low..high, where high is the smaller of the
    per-transaction maximum and what the wallet can take (load) or holds (unload)."""
    low: Money
    high: Money
    per_txn_max: Money | None    # load only
    room: Money                  # load: max - balance; unload: the passbook balance

    @property
    def possible(self) -> bool:
        return self.room >= self.low


def load_bounds(card: CardView, wallet: Wallet, limits: WalletLimits) -> Bounds:
    room = card.room(wallet)
    return Bounds(limits.min_load, min(limits.max_load, room), limits.max_load, room)


def unload_bounds(card: CardView) -> Bounds:
    return Bounds(UNLOAD_MIN, card.ed_balance, None, card.ed_balance)


@dataclass(frozen=True, slots=True)
class Problem:
    key: str
    amount: Money | None = None


def amount_problem(amount: Money | None, bounds: Bounds) -> Problem | None:
    """Why this amount cannot go ahead, in a catalogue key; None if it can."""
    if not bounds.possible:
        return Problem("card.amount.full" if bounds.per_txn_max is not None else "card.amount.empty")
    if amount is None or amount.fen <= 0:
        return Problem("card.amount.missing")
    if amount < bounds.low:
        return Problem("card.amount.too_small", bounds.low)
    if bounds.per_txn_max is not None and amount > bounds.per_txn_max:
        return Problem("card.amount.too_large", bounds.per_txn_max)
    if amount > bounds.room:
        return Problem("card.amount.over_room" if bounds.per_txn_max is not None else "card.amount.over_balance",
                       bounds.room)
    return None


@dataclass(frozen=True, slots=True)
class WalletChoice:
    """One wallet offered to pay a bill: usable or not, and why not."""
    wallet: Wallet
    balance: Money
    usable: bool
    short_by: Money
    needs_pin: bool


def wallet_choices(card: CardView, due: Money) -> list[WalletChoice]:
    choices = []
    for wallet in (Wallet.EP, Wallet.ED):
        balance = card.balance(wallet)
        choices.append(WalletChoice(wallet, balance, balance >= due, Money(max(0, due.fen - balance.fen)),
                                    wallet is Wallet.ED))
    return choices
