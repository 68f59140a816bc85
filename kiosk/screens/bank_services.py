"""银行卡服务 bank card services: a bank card's balance, or a new PIN for it.
The flow only routes; BankCardServices (kiosk/services/bank_card_services.py)
holds every rule (PIN blocks only, the two new entries compared, the balance
kept nowhere).

    idle ─银行卡服务─▶ bankcard_choose ─余额查询─▶ swipe ─▶ pin ──────────────────────┐
                           └─修改密码─▶ swipe ─▶ pin (current) ─▶ pin (new) ─▶ pin (again) ─┤
                                                                                       ▼
                                             bankcard_result ◀── bankcard_processing
                                               (balance: "print" only when asked)

A wrong PIN with tries left (55) is asked again with the same card: the
balance's PIN, or a PIN change from the current PIN; two different new PINs
ask the new PIN again (nothing was sent). The swipe and PIN screens are the
shared bank card step (bank_card.py), fed its PIN blocks by the service.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kivy.properties import NumericProperty, StringProperty

from common.money import Money
from kiosk.domain.errors import BankDeclined, BankSignOnRequired, HostUnavailable, OutcomeUnknown
from kiosk.screens.bank_card import BankCardFor, BankCardRequest, BankCardStep
from kiosk.screens.messages import Outcome, log_failure, payment_message
from kiosk.screens.navigation import Navigator, Screen, Spawn
from kiosk.services.bank_card_services import NewPinMismatch

if TYPE_CHECKING:
    from common.bank_card import CardSwipe
    from kiosk.services.bank_card_services import BankCardServices

log = logging.getLogger(__name__)

WRONG_PIN = "55"
# the PIN change's PIN screens, one after the other: the note each shows
STAGE_NOTE = {"old": "bankcard.pin.old", "new": "bankcard.pin.new", "again": "bankcard.pin.again"}


class BankServices(Outcome):
    op = StringProperty("")                  # "" | balance | pin_change
    stage = StringProperty("")               # the PIN change's PIN: old | new | again
    card_text = StringProperty("")           # masked PAN
    balance_text = StringProperty("")        # on screen only, while the result shows
    tries = NumericProperty(0)               # a decline's tries left (bank.rc.55.tries)

    screens = frozenset({Screen.BANKCARD_CHOOSE, Screen.BANKCARD_PROCESSING, Screen.BANKCARD_RESULT})
    actions: frozenset[str] = frozenset()
    result_screen = Screen.BANKCARD_RESULT

    def __init__(self, nav: Navigator, bank: BankCardStep, service: BankCardServices | None, spawn: Spawn,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nav = nav
        self.bank = bank
        self.service = service
        self._spawn = spawn
        self._gen = 0                           # bumped by reset(): a left flow's late answers are dropped
        self._blocks: dict[str, bytes] = {}     # the PIN change's blocks, in memory until sent
        self._balance: Money | None = None      # printed only if asked, then forgotten with the flow

    # --- as a Part -------------------------------------------------------------------------
    def start(self) -> None:
        self.reset()
        self.nav.screen = Screen.BANKCARD_CHOOSE

    def back(self) -> None:
        if self.nav.screen != Screen.BANKCARD_PROCESSING:   # the bank's answer is awaited there
            self.nav.go_idle()

    def cancel(self) -> None:
        self.nav.go_idle()

    def message_action(self, action: str) -> None:
        self.nav.go_idle()

    def reset(self) -> None:
        self._gen += 1
        self._blocks.clear()
        self._balance = None
        self.op = self.stage = self.card_text = self.balance_text = ""
        self.tries = 0
        self.result_action = self.result_body = ""
        self.forget_approval()

    # --- the choice ---------------------------------------------------------------------------
    def choose(self, op: str) -> None:
        """余额查询 (balance) or 修改密码 (pin_change): swipe, then the PIN(s)."""
        assert op in ("balance", "pin_change") and self.service is not None
        self.op = op
        self._blocks.clear()
        self.stage = "old" if op == "pin_change" else ""
        self.bank.start(BankCardRequest(
            BankCardFor(op), done=self._card_done, back=self._back_to_choice, unavailable=self._unavailable,
            fail_back_to=Screen.BANKCARD_CHOOSE, first_note=STAGE_NOTE["old"] if op == "pin_change" else "",
            pin_source=self.service.collect_pin))

    def _back_to_choice(self) -> None:
        self._blocks.clear()
        self.stage = ""
        self.nav.screen = Screen.BANKCARD_CHOOSE

    def _unavailable(self) -> None:
        self.bank.drop()
        self.show_result("unavailable", "bankcard.result.unavailable.title", "bank.rc.96", action="retry")

    def _pin_again(self, stage: str, note: str, tries: int = 0) -> None:
        self.stage = stage
        self.bank.again(note, tries)

    def _card_done(self, swipe: CardSwipe, pin_block: bytes | None) -> None:
        assert pin_block is not None
        self.card_text = swipe.masked_pan
        if self.op == "balance":
            self._process(self._ask_balance(swipe, pin_block, self._gen))
            return
        self._blocks[self.stage] = pin_block
        if self.stage == "old":
            self._pin_again("new", STAGE_NOTE["new"])
        elif self.stage == "new":
            self._pin_again("again", STAGE_NOTE["again"])
        else:
            blocks, self._blocks = self._blocks, {}
            self._process(self._change_pin(swipe, blocks["old"], blocks["new"], blocks["again"], self._gen))

    def _process(self, work: Any) -> None:
        self.nav.screen = Screen.BANKCARD_PROCESSING
        self._spawn(work)                    # never cancelled: go_idle refuses meanwhile

    # --- the bank's answers ----------------------------------------------------------------------
    async def _ask_balance(self, swipe: CardSwipe, pin_block: bytes, gen: int) -> None:
        assert self.service is not None
        try:
            balance = await self.service.balance(swipe, pin_block)
        except Exception as exc:  # noqa: BLE001 - every failure is shown
            if gen == self._gen:
                self._failed(exc, "pin.wrong", "pin.wrong_plain", "pin.again", "")
            return
        if gen != self._gen:
            return
        self.bank.drop()
        self._balance = balance
        self.balance_text = balance.display()
        self.show_result("approved", "bankcard.result.balance.title", "bankcard.result.balance")

    async def _change_pin(self, swipe: CardSwipe, old: bytes, new: bytes, again: bytes, gen: int) -> None:
        assert self.service is not None
        try:
            await self.service.change_pin(swipe, old, new, again)
        except NewPinMismatch:
            if gen == self._gen:              # nothing was sent: the new PIN again, the current one kept
                self._blocks["old"] = old
                self._pin_again("new", "bankcard.pin.mismatch")
            return
        except Exception as exc:  # noqa: BLE001
            if gen == self._gen:
                self._failed(exc, "bankcard.pin.old_wrong", "bankcard.pin.old_wrong_plain",
                             "bankcard.pin.old_again", "old")
            return
        if gen != self._gen:
            return
        self.bank.drop()
        self.show_result("approved", "bankcard.result.pin.title", "bankcard.result.pin")

    def _failed(self, exc: BaseException, wrong: str, wrong_plain: str, again: str, stage: str) -> None:
        """What a failed inquiry or PIN change leads to: the PIN again (same card) or a result."""
        if isinstance(exc, BankDeclined) and exc.response_code == WRONG_PIN and exc.tries_left != 0 \
                and self.bank.has_card:
            if exc.tries_left is None:
                self._pin_again(stage, wrong_plain)
            else:
                self._pin_again(stage, wrong, exc.tries_left)
            return
        if isinstance(exc, BankSignOnRequired) and self.bank.has_card:
            self._pin_again(stage, again)     # new working keys: a fresh PIN block
            return
        self.bank.drop()
        if isinstance(exc, BankDeclined):
            log.info("bank card services: %s declined with %s", self.op, exc.response_code)
            self.tries = exc.tries_left or 0
            key = "bank.rc.55.tries" if exc.response_code == WRONG_PIN and exc.tries_left else exc.message_key
            self.show_result("declined", "bankcard.result.declined.title", key)
        elif isinstance(exc, HostUnavailable):
            log_failure(log, "bank card services,", self.op, exc)
            self.show_result("unavailable", "bankcard.result.unavailable.title", exc.message_key, action="retry")
        elif isinstance(exc, OutcomeUnknown):
            log_failure(log, "bank card services,", self.op, exc)
            body = "bankcard.balance.no_reply" if self.op == "balance" else "bankcard.pin.no_reply"
            self.show_result("unknown", "bankcard.result.unknown.title", body)
        else:
            log_failure(log, "bank card services,", self.op, exc)
            self.nav.screen = Screen.BANKCARD_CHOOSE     # leave "processing" so the message can show
            self.nav.show(payment_message(exc, Screen.BANKCARD_CHOOSE))

    # --- the result's buttons ---------------------------------------------------------------------
    def print_balance(self) -> None:
        """"Print" on the balance: the masked card and the balance on a slip, once."""
        if self.service is None or self._balance is None or self.receipt_state:
            return
        self.receipt_state = "printing"
        self.nav.print_in_background(self._print(self.card_text, self._balance, self._gen))

    async def _print(self, masked_pan: str, balance: Money, gen: int) -> None:
        assert self.service is not None
        printed = await self.service.print_balance(masked_pan, balance)
        if gen == self._gen:
            self.receipt_state = "printed" if printed else "not_printed"

    def result_next(self) -> None:
        """The result's main button: Try again (nothing happened) or Done."""
        if self.result_action == "retry" and self.op:
            self.choose(self.op)             # swipe again: the card was let go
        else:
            self.nav.go_idle()
