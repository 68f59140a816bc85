"""A one-card refused for its household's unpaid property fee (docs/onecard.md
"Unpaid-fee blacklist"): the refusal says why and offers to pay the arrears
here by bank card; once paid the card is released in the same presentation.
Every rule is OneCardBlacklistService's (kiosk/services/onecard_blacklist.py):
this part routes its answers to the one-card's screens (onecard.py).

    onecard_refused ─现在补缴欠费─▶ swipe ─▶ pin ─▶ card_processing ─▶ onecard_result
      (why: since, owed;                                   (paid: the card released, or
       what paying pays)                                    "tap it again" if it left first)

The payment is the bill payment's own (purpose "bill": the PIN is for the bank,
the receipt the bill's). A card tapped that the host refuses as blacklisted
while the list no longer has it (paid earlier, pulled before its flag was
cleared) is released at that presentation: its screen says so."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, StringProperty

from kiosk.domain.errors import HostUnavailable, OutcomeUnknown
from kiosk.screens.bank_card import BankCardFor, BankCardRequest, BankCardStep
from kiosk.screens.messages import BANK, Decline, decline_for
from kiosk.screens.navigation import Screen
from kiosk.services.onecard_blacklist import UnblockOutcome, UnpaidFeeRefusal

if TYPE_CHECKING:
    from common.bank_card import CardSwipe
    from kiosk.services.onecard_blacklist import OneCardBlacklistService
    from kiosk.services.onecard_card import OneCardView

log = logging.getLogger(__name__)

OTHER_DECLINE = Decline("decline.other", "")
TITLE = "onecard.result.arrears.title"


class OneCardArrears(EventDispatcher):
    since = StringProperty("")        # the oldest unpaid property fee's due date, YYYY-MM-DD
    owed = StringProperty("")         # the property fees listed, "¥…"
    due = StringProperty("")          # what paying here pays (all that is due), "" when nothing is payable
    house = StringProperty("")
    released = BooleanProperty(False)  # this presentation cleared the card's black flag

    def __init__(self, steps: Any, bank: BankCardStep, service: OneCardBlacklistService,
                 **kwargs: Any) -> None:
        """`steps`: the OneCardSteps (onecard.py) whose screens, result and
        card services this part uses (typed loosely: onecard.py imports this module)."""
        super().__init__(**kwargs)
        self.steps, self.bank, self.service = steps, bank, service
        self._swipe: CardSwipe | None = None

    # --- the card tapped ------------------------------------------------------------
    async def present(self) -> OneCardView | UnpaidFeeRefusal:
        """The service's presentation: the card's view (released, if it was), or why it is refused."""
        answer = await self.service.present()
        if isinstance(answer, UnblockOutcome):
            assert answer.view is not None
            self.released = True
            return answer.view
        return answer

    def refused(self, refusal: UnpaidFeeRefusal) -> None:
        """Show why (the refusal screen binds to these) and offer to pay when there is a bill."""
        steps = self.steps
        steps.refused_code, steps.refused_uid, steps.refused_house = "blacklisted", refusal.uid, refusal.house_no
        self.since, self.house = refusal.since, refusal.house_no
        self.owed = refusal.owed.display() if refusal.since else ""
        self.due = refusal.bill.total_due.display() if refusal.bill is not None else ""
        steps.nav.screen = Screen.ONECARD_REFUSED

    # --- "pay the arrears now" (OneCardSteps.arrears_offer) -----------------------------
    def offer(self, _uid: str, _house: str) -> None:
        steps = self.steps
        if not self.due or steps._owner._suspended():  # noqa: SLF001 - the card services' own check
            return
        steps.kind, steps._owner.op = "arrears", "onecard_arrears"
        steps.amount_text = steps._owner.amount_text = self.due
        self.bank.start(BankCardRequest(
            BankCardFor("bill", self.due, house_no=self.house),   # the bill payment's: the PIN is the bank's
            done=self._card_done, back=self._back, unavailable=steps._unavailable, fail_back_to=Screen.IDLE))

    def _back(self) -> None:
        self._drop_swipe()
        self.steps.kind, self.steps._owner.op = "", "view"
        self.steps.nav.screen = Screen.ONECARD_REFUSED

    def _card_done(self, swipe: CardSwipe, pin_block: bytes | None) -> None:
        assert pin_block is not None
        self._swipe = swipe
        self.steps.masked_pan = swipe.masked_pan
        self.steps.nav.screen = Screen.CARD_PROCESSING
        self.steps._spawn(self._pay(swipe, pin_block))   # never cancelled: go_idle refuses meanwhile

    async def _pay(self, swipe: CardSwipe, pin_block: bytes) -> None:
        steps = self.steps
        if not await steps.nav.hold(Screen.CARD_PROCESSING):
            return
        try:
            outcome = await self.service.pay_arrears_and_unblock(swipe, pin_block)
        except HostUnavailable:
            steps._unavailable()
            return
        except OutcomeUnknown:
            self._drop_swipe()
            steps.show_result("unknown", "result.unknown.title", "error.outcome_unknown")
            return
        except Exception as exc:  # noqa: BLE001 - every failure is shown (nothing was charged)
            steps._failed(exc)
            return
        self.show_outcome(outcome)

    def show_outcome(self, outcome: UnblockOutcome) -> None:
        steps, payment = self.steps, outcome.payment
        if payment is not None and not payment.approved:
            if payment.decline_code == "wrong_pin" and payment.tries_left != 0 and self._swipe is not None:
                self.bank.again("pin.wrong", payment.tries_left) if payment.tries_left is not None \
                    else self.bank.again("pin.wrong_plain")
                return
            self._drop_swipe()
            steps.show_result("declined", "card.result.declined.title",
                              decline_for(payment.decline_code, BANK, OTHER_DECLINE).body)
            return
        self._drop_swipe()
        steps.view = outcome.view
        self.released = outcome.card_cleared
        steps.result_balance = outcome.view.balance.display() if outcome.view is not None else ""
        if payment is not None:
            steps.amount_text, steps.masked_pan, steps.reference = \
                payment.amount.display(), payment.masked_pan, payment.reference
            steps.receipt_state = "printing"
            steps.nav.print_in_background(self._print(payment.txn_id, steps._owner._gen))
        steps.show_result("approved", TITLE, outcome.message_key)

    async def _print(self, txn_id: str, gen: int) -> None:
        try:
            printed = await self.service.print_receipt(txn_id)
        except Exception:  # noqa: BLE001 - the payment stands; only the paper failed
            log.exception("one-card arrears: receipt for %s", txn_id)
            printed = False
        if gen == self.steps._owner._gen and self.steps.nav.screen == Screen.ONECARD_RESULT:
            self.steps.receipt_state = "printed" if printed else "not_printed"

    def _drop_swipe(self) -> None:
        self._swipe = None
        self.bank.drop()

    def reset(self) -> None:
        self._swipe = None
        self.since = self.owed = self.due = self.house = ""
        self.released = False
