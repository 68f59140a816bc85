"""转账 Transfer in card services (docs/cards.md §7, docs/ui.md "Flows"): money
between two IC cards the resident has put in the readers. Every rule is
TransferService's (kiosk/services/transfer.py): this part only routes its
answers to screens.

    card_insert ─转账─▶ transfer (the cards present; from / to) ─▶ transfer_amount (presets, limits)
        ─▶ transfer_confirm ─确认─▶ transfer_processing ─▶ transfer_result (both cards masked, receipt)
                                              └─ a card pulled during its write ─▶ transfer_tear
                                                   ├─ "it is back" ─▶ transfer_result (as the card proves it)
                                                   └─ "I don't have it" ─▶ message (settled next time)

The bank card is offered as a side too ("Bank card (swipe + PIN)"): From the
bank card, the confirmation leads to the shared swipe and PIN step, then the
wallet's load or the one-card's load runs (BankPairs, transfer_bank.py); its
tear is the same tear screen. The passbook → bank pair needs the card PIN and
the passbook (ED), which these screens do not ask for yet: the card screen's
圈提 does it. A one-card is not paid out to a bank card (the property office
does that)."""
from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from kivy.properties import BooleanProperty, ListProperty, NumericProperty, ObjectProperty, StringProperty

from common.errors import KeyedError
from common.money import Money
from kiosk.domain.errors import CardRemoved, CardTorn, NotTheSameCard, PaymentsSuspended
from kiosk.screens.bank_card import BankCardFor, BankCardRequest, BankCardStep
from kiosk.screens.messages import Outcome, log_failure
from kiosk.screens.navigation import Message, Navigator, Screen, Spawn

if TYPE_CHECKING:
    from common.bank_card import CardSwipe
    from kiosk.services.transfer import TransferService
    from kiosk.services.transfer_view import TransferCard, TransferOutcome

log = logging.getLogger(__name__)

PRESETS = (Money(1_000), Money(5_000), Money(10_000), Money(20_000), Money(50_000))


class TransferSteps(Outcome):
    cards = ListProperty([])                       # the TransferCards present, as read
    src = NumericProperty(-1)                      # index into cards, -1 none
    dst = NumericProperty(-1)
    amount = ObjectProperty(None, allownone=True)  # Money
    reading = BooleanProperty(False)
    settled = NumericProperty(0)                   # transfers this scan finished (credits owed made)
    limits_text = StringProperty("")
    from_text = StringProperty("")                 # "CPU card ****0001 (¥85.50)"
    to_text = StringProperty("")
    amount_text = StringProperty("")
    src_after = StringProperty("")                 # balances after, on the result
    dst_after = StringProperty("")
    tear_card = StringProperty("")                 # the card to put back, masked

    screens = frozenset({Screen.TRANSFER, Screen.TRANSFER_AMOUNT, Screen.TRANSFER_CONFIRM,
                         Screen.TRANSFER_PROCESSING, Screen.TRANSFER_RESULT, Screen.TRANSFER_TEAR})
    actions = frozenset({"transfer_again"})
    result_screen = Screen.TRANSFER_RESULT

    def __init__(self, nav: Navigator, service: TransferService, spawn: Spawn, bank: BankCardStep | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nav, self.service, self._spawn, self.bank = nav, service, spawn, bank
        self._gen = 0
        self._txn_id = ""

    # --- entry ----------------------------------------------------------------------
    def start(self) -> None:
        self.reset()
        self.nav.screen = Screen.TRANSFER
        self.scan()

    def scan(self) -> None:
        """Read the cards in the readers (and settle what they have open)."""
        self.src = self.dst = -1
        self.reading = True
        self._run(self._scan(self._gen))

    async def _scan(self, gen: int) -> None:
        try:
            cards, settled = await self.service.scan()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            if gen == self._gen:
                self.reading = False
                self._fail(exc, "reading the cards")
            return
        if gen != self._gen:
            return
        self.reading = False
        if self.bank is not None and self.service.bank_pairs is not None:
            from kiosk.services.transfer_view import BANK, TransferCard
            cards = [*cards, TransferCard(BANK, "")]     # swiped (and its PIN typed) after the confirmation
        self.cards, self.settled = cards, len(settled)

    def card_label(self, card: TransferCard, lang: str, with_balance: bool = True) -> str:
        from kiosk.i18n import tr
        if card.kind == "bank" and not card.card:
            return tr("transfer.bank_side", lang)
        balance = f" ({card.balance.display()})" if card.balance is not None and with_balance else ""
        return f"{tr('transfer.kind.' + card.kind, lang)} {card.masked}{balance}"

    def pick(self, side: str, index: int) -> None:
        if side == "src":
            self.src = index
            if self.dst == index:
                self.dst = -1
        else:
            self.dst = index
            if self.src == index:
                self.src = -1

    @property
    def can_go_on(self) -> bool:
        return self.src >= 0 and self.dst >= 0 and self.src != self.dst

    def to_amount(self) -> None:
        if not self.can_go_on:
            return
        self._high = high = self.service.ceiling(self.cards[self.src], self.cards[self.dst])
        self.limits_text = high.display()
        self.amount, self.amount_text = None, ""
        self.nav.screen = Screen.TRANSFER_AMOUNT

    def usable(self, amount: Money) -> bool:
        return Money(0) < amount <= getattr(self, "_high", self.service.limits.per_transfer)

    def choose_amount(self, amount: Money) -> None:
        if not self.usable(amount):
            return
        self.amount, self.amount_text = amount, amount.display()

    def to_confirm(self, lang: str) -> None:
        if self.amount is None or not self.can_go_on:
            return
        self.from_text, self.to_text = self.cards[self.src].masked or "bank", self.cards[self.dst].masked or "bank"
        self.nav.screen = Screen.TRANSFER_CONFIRM

    def side_text(self, side: str, lang: str, with_balance: bool = True) -> str:
        """The From or To card in words (kv, with app.lang: redrawn with the language)."""
        index = self.src if side == "src" else self.dst
        if not self.from_text or not 0 <= index < len(self.cards):
            return ""
        return self.card_label(self.cards[index], lang, with_balance)

    # --- the transfer ------------------------------------------------------------------
    def confirm(self) -> None:
        if self.amount is None or not self.can_go_on:
            return
        src, dst, amount = self.cards[self.src], self.cards[self.dst], self.amount
        if "bank" in (src.kind, dst.kind):
            self._to_bank_card(src, dst, amount)
            return
        self.nav.screen = Screen.TRANSFER_PROCESSING
        self._run(self._transfer(self._gen, src, dst, amount))

    # --- a bank pair: the shared swipe and PIN step, then the load / unload ---------------------
    def _to_bank_card(self, src: TransferCard, dst: TransferCard, amount: Money) -> None:
        from kiosk.services.transfer_view import pair_refusal
        refusal = pair_refusal(src, dst)
        if refusal is not None or self.bank is None:     # said before anyone swipes
            self.show_result("declined", "transfer.result.declined.title",
                             f"transfer.decline.{refusal.split('.')[1]}" if refusal else "transfer.decline.other")
            return
        ic = dst if src.kind == "bank" else src
        self.bank.start(BankCardRequest(
            BankCardFor("load" if src.kind == "bank" else "unload", amount.display(), card_tail=ic.card[-4:],
                        card_wallet=ic.wallet.name if ic.wallet is not None else "EP"),
            done=lambda swipe, block: self._bank_done(src, dst, amount, swipe, block),
            back=self._back_from_bank, unavailable=self._unavailable, fail_back_to=Screen.TRANSFER_CONFIRM,
            with_pin=src.kind == "bank"))

    def _bank_done(self, src: TransferCard, dst: TransferCard, amount: Money, swipe: CardSwipe,
                   pin_block: bytes | None) -> None:
        pairs = self.service.bank_pairs
        assert pairs is not None
        self.nav.screen = Screen.TRANSFER_PROCESSING
        self._run(self._transfer(self._gen, src, dst, amount, pairs.transfer(src, dst, amount, swipe, pin_block)))

    def _back_from_bank(self) -> None:
        self.nav.screen = Screen.TRANSFER_CONFIRM

    def _unavailable(self) -> None:
        if self.bank is not None:
            self.bank.drop()
        self.show_result("unavailable", "card.result.unavailable.title", "card.result.unavailable")

    async def _transfer(self, gen: int, src: TransferCard, dst: TransferCard, amount: Money,
                        running: Coroutine[Any, Any, TransferOutcome] | None = None) -> None:
        try:
            outcome = await (running if running is not None else self.service.transfer(src, dst, amount))
        except CardTorn:
            if gen == self._gen:
                self._torn()
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            if gen == self._gen:
                self._fail(exc, "the transfer")
            return
        if gen == self._gen:
            await self._show(outcome)

    def _torn(self) -> None:
        awaited = self.service.awaited_card
        self.tear_card = awaited.masked if awaited is not None else ""
        self.nav.screen = Screen.TRANSFER_TEAR

    def card_back(self) -> None:
        """The tear screen's "it is back": the card's proof decides."""
        awaited = self.service.awaited_card
        if awaited is None:
            return
        self.nav.screen = Screen.TRANSFER_PROCESSING
        self._run(self._resume(self._gen, awaited.reader))

    async def _resume(self, gen: int, reader: str) -> None:
        try:
            outcome = await self.service.resume_awaited(reader)
        except CardTorn:
            if gen == self._gen:
                self._torn()
            return
        except (NotTheSameCard, CardRemoved):     # not that card, or not in yet: the tear screen again
            if gen == self._gen:
                self.nav.screen = Screen.TRANSFER_TEAR
            return
        except Exception as exc:  # noqa: BLE001
            if gen == self._gen:
                self._fail(exc, "the torn card back")
            return
        if gen == self._gen:
            await self._show(outcome)

    def give_up(self) -> None:
        """The tear screen's "I don't have it": settled when the card is next presented."""
        self._run(self.service.give_up_awaited())
        self.nav.show(Message("transfer.tear.later.title", "transfer.tear.later", action="home", tone="info"))

    async def _show(self, outcome: TransferOutcome) -> None:
        self._txn_id = outcome.txn_id
        self.src_after = outcome.src_balance_after.display() if outcome.src_balance_after is not None else ""
        self.dst_after = outcome.dst_balance_after.display() if outcome.dst_balance_after is not None else ""
        if outcome.state == "completed":
            self.reference = outcome.reference
            self.show_result("approved", "transfer.result.done.title", "transfer.result.done")
            self.receipt_state = "printing"
            self.receipt_state = "printed" if await self.service.print_receipt(outcome.txn_id) else "not_printed"
        elif outcome.state == "credit_owed":
            self.show_result("unknown", "transfer.result.owed.title", "transfer.result.owed")
        elif outcome.state == "cancelled":
            self.show_result("declined", "transfer.result.cancelled.title", "transfer.result.cancelled")
        else:
            self.show_result("declined", "transfer.result.declined.title",
                             f"transfer.decline.{outcome.decline_code}" if outcome.decline_code in KNOWN_DECLINES
                             else "transfer.decline.other")

    # --- the navigator's ----------------------------------------------------------------
    def back(self) -> None:
        screen = self.nav.screen
        if screen == Screen.TRANSFER_AMOUNT:
            self.nav.screen = Screen.TRANSFER
        elif screen == Screen.TRANSFER_CONFIRM:
            self.nav.screen = Screen.TRANSFER_AMOUNT
        elif screen in (Screen.TRANSFER, Screen.TRANSFER_RESULT):
            self.nav.go_idle()

    def message_action(self, action: str) -> None:
        if action == "transfer_again":
            self.start()

    def reset(self) -> None:
        self._gen += 1
        self.cards, self.src, self.dst, self.amount = [], -1, -1, None
        self.reading, self.settled = False, 0
        self.amount_text = self.from_text = self.to_text = self.src_after = self.dst_after = ""
        self.tear_card = self._txn_id = ""
        self.forget_approval()

    def _fail(self, exc: BaseException, step: str) -> None:
        log_failure(log, "transfer,", step, exc)
        key = exc.message_key if isinstance(exc, KeyedError) else "error.generic"
        title = "card.msg.suspended.title" if isinstance(exc, PaymentsSuspended) else "msg.sorry"
        self.nav.show(Message(title, key, action="transfer_again", back_to=Screen.IDLE))

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        self._spawn(work)


KNOWN_DECLINES = frozenset({"same_card", "transfer_limit", "daily_limit", "insufficient_funds", "wallet_limit",
                            "card_blacklisted", "card_lost", "onecard_to_bank", "purse_to_bank", "mirror_mismatch",
                            "onecard_pending"})
