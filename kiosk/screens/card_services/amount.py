"""The amount of a load or unload (screen card_amount): the keypad, the
presets, and the checks that refuse, before anything happens, what the
wallet service would refuse anyway (card_view.amount_problem)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kivy.event import EventDispatcher
from kivy.properties import ObjectProperty, StringProperty

from common.epurse import Wallet
from common.money import Money
from kiosk.screens import card_view
from kiosk.screens.navigation import Navigator, Screen

if TYPE_CHECKING:
    from kiosk.screens.card_services.onecard import OneCardSteps
    from kiosk.services.wallet import WalletService


class AmountEntry(EventDispatcher):
    """Part of CardServices (flow.py): the card, the operation and the next steps are its."""
    op = StringProperty("")                  # "" | view | load | unload | change_pin | pay
    view = ObjectProperty(None, allownone=True)   # kiosk.services.wallet.CardView
    wallet = StringProperty("EP")            # "EP" | "ED"
    amount_typed = StringProperty("")
    amount_note = StringProperty("")         # a catalogue key, or ""
    amount_note_amount = StringProperty("")  # its {amount}
    amount_text = StringProperty("")         # the amount going ahead, "¥100.00"

    nav: Navigator
    service: WalletService
    # CardServices' own (flow.py, pin.py)
    start_card_pin: Callable[..., None]
    _to_bank_card: Callable[[], None]
    onecard: OneCardSteps | None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._amount = Money(0)

    def _amount_screen(self) -> None:
        self.amount_typed = ""
        self._set_amount_note("")
        self.nav.screen = Screen.CARD_AMOUNT

    def bounds(self) -> card_view.Bounds | None:
        if self.op == "onecard_load":      # the one-card's load (onecard.py): its own purse
            return self.onecard.bounds() if self.onecard is not None else None
        if self.view is None:
            return None
        if self.op == "unload":
            return card_view.unload_bounds(self.view)
        return card_view.load_bounds(self.view, Wallet[self.wallet], self.service.limits)

    def set_wallet(self, name: str) -> None:
        if self.op == "load" and name in ("EP", "ED"):
            self.wallet = name
            self._set_amount_note("")

    def press_amount(self, key: str) -> None:
        typed = card_view.type_amount(self.amount_typed, key)
        if typed is None:
            self._set_amount_note("card.amount.bad")
            return
        self.amount_typed = typed
        self._set_amount_note("")

    def preset(self, amount: Money) -> None:
        self.amount_typed = card_view.amount_text(amount)
        self._check_amount()

    def amount_next(self) -> None:
        amount = self._check_amount()
        if amount is None:
            return
        self._amount = amount
        self.amount_text = amount.display()
        if self.op == "onecard_load" and self.onecard is not None:
            self.onecard.amount_chosen(amount)
        elif self.op == "unload" or self.wallet == "ED":
            self.start_card_pin("card")      # the passbook wants its PIN first
        else:
            self._to_bank_card()

    def _check_amount(self) -> Money | None:
        bounds = self.bounds()
        if bounds is None:
            return None
        amount = card_view.parse_amount(self.amount_typed)
        problem = card_view.amount_problem(amount, bounds)
        if problem is not None:
            self._set_amount_note(problem.key, problem.amount)
            return None
        self._set_amount_note("")
        return amount

    def _set_amount_note(self, key: str, amount: Money | None = None) -> None:
        self.amount_note_amount = amount.display() if amount is not None else ""
        self.amount_note = key
