"""What the resident is told when something is refused, declined or fails,
for every flow: the one decline table, the message for a payment step that
cannot go on, and the one result path (`Outcome`) both the bill payment and
the card services show their results through.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from kivy.event import EventDispatcher
from kivy.properties import StringProperty

from common.errors import KeyedError
from kiosk.domain.errors import PaymentsSuspended
from kiosk.screens.navigation import Message, Navigator, Screen

BANK = "bank"                 # answers a bill payment (docs/payments.md codes)
CARD_CENTRE = "card centre"   # answers the IC card's steps (docs/cards.md §5), relaying most of the bank's


@dataclass(frozen=True, slots=True)
class Decline:
    body: str                                  # the catalogue key shown
    action: str                                # the way out: "" (home) | another_card | lookup_again | retry | change_amount
    sent_by: frozenset[str] = frozenset({BANK, CARD_CENTRE})


_BANK_ONLY = frozenset({BANK})
_CARD_CENTRE_ONLY = frozenset({CARD_CENTRE})

# Every decline code -> what to say and the way out. A code a flow's answerer
# never sends is that flow's "other": a code is looked up only among its own.
DECLINES: dict[str, Decline] = {
    "wrong_pin": Decline("decline.wrong_pin", "another_card"),
    "pin_locked": Decline("decline.pin_locked", "another_card"),
    "insufficient_funds": Decline("decline.insufficient_funds", "another_card"),
    "card_blocked": Decline("decline.card_blocked", "another_card"),
    "expired_card": Decline("decline.expired_card", "another_card"),
    "daily_limit": Decline("decline.daily_limit", "another_card"),
    "unknown_card": Decline("decline.unknown_card", "another_card"),
    "bill_changed": Decline("decline.bill_changed", "lookup_again"),
    "nothing_due": Decline("decline.nothing_due", ""),
    "reversed": Decline("decline.reversed", "retry", _BANK_ONLY),
    "card_blacklisted": Decline("error.card_blacklisted", "", _CARD_CENTRE_ONLY),
    "card_lost": Decline("error.card_blacklisted", "", _CARD_CENTRE_ONLY),
    "unknown_ic_card": Decline("card.decline.unknown_ic_card", "", _CARD_CENTRE_ONLY),
    "mac1_invalid": Decline("card.decline.mac1_invalid", "", _CARD_CENTRE_ONLY),
    "wallet_limit": Decline("error.wallet_limit", "change_amount", _CARD_CENTRE_ONLY),
    "card_not_written": Decline("card.decline.card_not_written", "", _CARD_CENTRE_ONLY),
    "payment_pending": Decline("card.decline.payment_pending", "", _CARD_CENTRE_ONLY),
}


def codes_sent_by(answerer: str) -> frozenset[str]:
    return frozenset(code for code, decline in DECLINES.items() if answerer in decline.sent_by)


def decline_for(code: str, answerer: str, other: Decline) -> Decline:
    """What to say for `code` as `answerer` sends it; `other` for any code it does not."""
    decline = DECLINES.get(code)
    return decline if decline is not None and answerer in decline.sent_by else other


def payment_message(error: BaseException, back_to: str = Screen.BILL) -> Message:
    """A payment step that cannot go on: say so, and who must act."""
    key = error.message_key if isinstance(error, KeyedError) else "error.generic"
    if isinstance(error, PaymentsSuspended):
        return Message("msg.payments_off.title", key, action="home", back_to=back_to, tone="info")
    return Message("msg.sorry", key, action="home", back_to=back_to)


def log_failure(log: logging.Logger, what: str, step: str, exc: BaseException) -> None:
    """Our own errors are expected (info); anything else is a bug (error, with the trace)."""
    if isinstance(exc, KeyedError):
        log.info("%s %s: %s (%s)", what, step, type(exc).__name__, exc)
    else:
        log.error("%s %s failed unexpectedly", what, step, exc_info=exc)


class Outcome(EventDispatcher):
    """A flow's result screen: what happened, and its main button's way out."""
    result_kind = StringProperty("approved")  # approved | declined | unknown | unavailable
    result_title = StringProperty("")
    result_body = StringProperty("")
    result_action = StringProperty("")        # "" | a Decline action
    reference = StringProperty("")            # the host's reference of an approval
    receipt_state = StringProperty("")        # "" | printing | printed | not_printed | skipped

    nav: Navigator
    result_screen: Screen

    def show_result(self, kind: str, title: str, body: str, *, action: str = "") -> None:
        if kind != "approved":
            self.forget_approval()
        self.result_kind, self.result_title, self.result_body = kind, title, body
        self.result_action = action
        self.nav.screen = self.result_screen

    def forget_approval(self) -> None:
        """What only an approval shows (a declined or unknown result has none of it)."""
        self.receipt_state = self.reference = ""
