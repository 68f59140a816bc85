"""What the wallet service answered (screen card_result): an approval with
its receipt, a decline (the shared decline table, as the card centre sends
it), or a money step that did not complete, and the result's way out."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kivy.properties import StringProperty

from kiosk.domain.errors import (CardPinWrong, CardTorn, HostUnavailable, OutcomeUnknown, WalletInsufficient,
                                 WalletLimitExceeded)
from kiosk.screens.bank_card import BankCardStep
from kiosk.screens.messages import CARD_CENTRE, Decline, Outcome, decline_for
from kiosk.screens.navigation import Message, Navigator, Screen

if TYPE_CHECKING:
    from kiosk.services.wallet_view import WalletOutcome
    from kiosk.services.wallet import WalletService

log = logging.getLogger(__name__)

OTHER_DECLINE = Decline("card.decline.other", "")
APPROVED_TITLE = {"load": "card.result.load.title", "unload": "card.result.unload.title",
                  "pay": "card.result.pay.title", "change_pin": "card.result.pin.title"}
KIND_OP = {"load": "load", "unload": "unload", "purchase": "pay"}   # WalletOutcome.kind -> op


class CardOutcomes(Outcome):
    """Part of CardServices (flow.py): the steps an outcome leads back to are its."""
    result_balance = StringProperty("")      # the wallet's balance after the write
    result_wallet = StringProperty("")       # "EP" | "ED" | ""
    masked_pan = StringProperty("")

    nav: Navigator
    bank: BankCardStep
    service: WalletService
    _gen: int
    op: str                                  # AmountEntry's property
    amount_text: str
    _swipe: Any
    _card_pin: str | None
    _old_pin: str | None
    _new_pin: str | None
    # CardServices' own (flow.py and its other parts)
    _clear_pins: Callable[[], None]
    _drop_swipe: Callable[[], None]
    _start_tear: Callable[[str], None]
    start_card_pin: Callable[..., None]
    _amount_screen: Callable[[], None]
    _set_amount_note: Callable[..., None]
    _unavailable: Callable[[], None]
    _fail: Callable[[BaseException, str], None]
    _message: Callable[..., Message]
    _lookup_again: Callable[[], None] | None
    retry: Callable[[], None]

    def _approved(self, outcome: WalletOutcome) -> None:
        self._clear_pins()
        self._drop_swipe()
        op = KIND_OP.get(outcome.kind, self.op)
        self.op = op
        self.amount_text = outcome.amount.display()
        self.result_wallet = outcome.wallet.name
        self.result_balance = outcome.new_balance.display() if outcome.new_balance is not None else ""
        self.masked_pan = outcome.masked_pan
        self.reference = outcome.reference
        self.receipt_state = "printing"
        self.nav.print_in_background(self._print(outcome.txn_id, self._gen))
        self.show_result("approved", APPROVED_TITLE[op], f"card.result.{op}")

    async def _print(self, txn_id: str, gen: int) -> None:
        try:
            printed = await self.service.print_receipt(txn_id)
        except Exception:  # noqa: BLE001 - the transaction stands; only the paper failed
            log.exception("card services: receipt for %s", txn_id)
            printed = False
        if gen == self._gen and self.nav.screen == Screen.CARD_RESULT:
            self.receipt_state = "printed" if printed else "not_printed"

    def _declined(self, outcome: WalletOutcome) -> None:
        code = outcome.decline_code
        if code == "wrong_pin" and outcome.tries_left != 0 and self._swipe is not None and self.op == "load":
            if outcome.tries_left is None:
                self.bank.again("pin.wrong_plain")
            else:
                self.bank.again("pin.wrong", outcome.tries_left)
            return
        decline = decline_for(code, CARD_CENTRE, OTHER_DECLINE)
        action = decline.action
        if action == "another_card" and self.op not in ("load", "unload"):
            action = ""
        if action != "another_card":         # another bank card keeps the card PIN already typed
            self._drop_swipe()
            self._clear_pins()
        self.show_result("declined", "card.result.declined.title", decline.body, action=action)

    def _failed_op(self, exc: BaseException) -> None:
        """A money step that did not complete: what happened, and the way out."""
        if isinstance(exc, CardTorn):
            self._start_tear(exc.serial)
        elif self.service.torn is not None:
            self._start_tear(self.service.torn.serial)
        elif isinstance(exc, CardPinWrong) and exc.tries_left != 0:
            stage = "old" if self.op == "change_pin" else "card"
            self._card_pin = self._old_pin = self._new_pin = None
            self.start_card_pin(stage, "card.pin.wrong", exc.tries_left)
        elif isinstance(exc, CardPinWrong):
            self._clear_pins()
            self._drop_swipe()
            self.nav.show(self._message("error.card_pin_blocked", title="card.msg.pin_blocked.title"))
        elif isinstance(exc, (WalletLimitExceeded, WalletInsufficient)) and self.op in ("load", "unload"):
            self._clear_pins()
            self._drop_swipe()
            self._amount_screen()
            self._set_amount_note(exc.message_key)
        elif isinstance(exc, HostUnavailable):
            self._unavailable()
        elif isinstance(exc, OutcomeUnknown):
            self._clear_pins()
            self._drop_swipe()
            self.show_result("unknown", "card.result.unknown.title", "card.result.unknown")
        else:
            self._clear_pins()
            self._drop_swipe()
            self._fail(exc, self.op)

    def forget_approval(self) -> None:
        self.receipt_state = self.reference = self.result_balance = self.result_wallet = ""

    def result_next(self) -> None:
        """The result screen's main button."""
        action = self.result_action
        if action == "another_card":
            self.bank.start_swipe()
        elif action == "change_amount":
            self._amount_screen()
        elif action == "lookup_again" and self._lookup_again is not None:
            self._lookup_again()
        elif action == "retry":
            self.retry()
        else:
            self.nav.go_idle()
