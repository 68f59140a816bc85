"""购电 / 购水 / 购气 prepaid meters: the resident's steps. The flow only routes
and formats; MeterService (kiosk/services/meter.py) holds every rule (the
vending check, the tear rule, the journal) and the host every price.

    idle ─购电/购水/购气─▶ meter_insert ─card in the contact slot─▶ meter ─购买─▶ meter_amount
        (a blank card: meter_amount asks the meter number first)           │ kWh/m³ or ¥
                                                                          ▼
       meter_result ◀── meter_processing ◀── swipe ─▶ pin ◀─银行卡── meter_pay (the quote's tiers)
        (receipt)       (writing: do not                                     └─IC卡钱包─▶ meter_insert
              ▲          remove the card)                                        (tap the IC card)
              └── meter_insert "put the same card back" ◀── the card pulled mid-write

A card that cannot be sold onto (the last purchase not in the meter yet, the
hoarding limit reached) shows its state with the reason, and no "buy".
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty, ListProperty, StringProperty

from common.meter_card import units_text
from common.money import Money
from kiosk.domain.errors import MeterCardTorn, MeterNumberNeeded, MeterRefused, WalletInsufficient
from kiosk.screens import card_view
from kiosk.screens.bank_card import BankCardFor, BankCardRequest, BankCardStep
from kiosk.screens.messages import BANK, Decline, Outcome, decline_for, log_failure, payment_message
from kiosk.screens.navigation import Message, Navigator, Screen, Spawn
from kiosk.services.meter_view import refusal

if TYPE_CHECKING:
    from common.bank_card import CardSwipe
    from kiosk.services.meter import MeterService
    from kiosk.services.meter_view import MeterOutcome, MeterQuote, MeterView
    from kiosk.services.wallet import WalletService

log = logging.getLogger(__name__)

CONTACT, CONTACTLESS = "contact", "contactless"
UNIT_PRESETS = ("50", "100", "200", "500")     # kWh or m³
YUAN_PRESETS = ("20", "50", "100", "200")
METER_DIGITS = 12
UNITS = {"electricity": "kWh", "water": "m³", "gas": "m³"}
OTHER_DECLINE = Decline("decline.other", "")
# the card in the contact slot is the one being served on these: taking it out ends the purchase
CARD_STEPS = (Screen.METER, Screen.METER_AMOUNT, Screen.METER_PAY)


def hundredths(value: int) -> str:
    return units_text(value)


class MeterPurchase(Outcome):
    insert_for = StringProperty("meter")     # meter_insert waits for: meter | wallet (IC card) | tear
    reading = BooleanProperty(False)
    utility = StringProperty("electricity")
    unit = StringProperty("kWh")
    meter_no = StringProperty("")
    house_no = StringProperty("")
    remaining_text = StringProperty("")
    cumulative_text = StringProperty("")
    status = ListProperty([])                # supply_cut, low_credit, tamper, pulled_early
    applied = BooleanProperty(True)
    refusal_key = StringProperty("")         # why nothing can be sold now, or ""
    entry_mode = StringProperty("units")     # meter_amount: units | yuan | number
    typed = StringProperty("")
    note = StringProperty("")                # meter_amount's refusal, a catalogue key
    quantity_text = StringProperty("")       # "100.00 kWh"
    amount_text = StringProperty("")         # "¥52.00"
    lines = ListProperty([])                 # the quote's tiers: (tier, quantity, unit price, amount)
    count = StringProperty("")               # the purchase count written

    screens = frozenset({Screen.METER_INSERT, Screen.METER, Screen.METER_AMOUNT, Screen.METER_PAY,
                         Screen.METER_PROCESSING, Screen.METER_RESULT})
    actions = frozenset({"meter_again"})
    result_screen = Screen.METER_RESULT

    def __init__(self, nav: Navigator, bank: BankCardStep, service: MeterService | None,
                 wallet: WalletService | None, spawn: Spawn, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nav, self.bank, self.service, self.wallet = nav, bank, service, wallet
        self._spawn = spawn
        self._gen = 0                          # bumped by reset(): a left flow's late answers are dropped
        self._watching = False
        self._view: MeterView | None = None
        self._quote: MeterQuote | None = None
        self._meter_typed: str | None = None   # a blank card's number, as typed
        self._at_bank = False
        self._count_before = 0                 # the card's purchase count when it was quoted

    # --- as a Part --------------------------------------------------------------------
    def start(self) -> None:
        self.reset()
        self._watch()
        self._wait_for(CONTACT, "meter")

    def back(self) -> None:
        screen = self.nav.screen
        if screen == Screen.METER_PAY:
            self._amount_screen(self.entry_mode)
        elif screen == Screen.METER_AMOUNT and self.entry_mode != "number":
            self.nav.screen = Screen.METER
        elif screen == Screen.METER_INSERT and self.insert_for == "wallet":
            self.nav.screen = Screen.METER_PAY
        elif screen != Screen.METER_PROCESSING:
            self.nav.go_idle()

    def cancel(self) -> None:
        self.nav.go_idle()

    def message_action(self, action: str) -> None:
        self.start()                           # meter_again: the card once more

    def reset(self) -> None:
        self._gen += 1
        self._view = self._quote = self._meter_typed = None
        self._at_bank = self.reading = False
        self.insert_for, self.entry_mode = "meter", "units"
        self.meter_no = self.house_no = self.remaining_text = self.cumulative_text = ""
        self.typed = self.note = self.quantity_text = self.amount_text = self.count = self.refusal_key = ""
        self.status, self.lines, self.applied = [], [], True
        self.result_title = self.result_body = self.result_action = ""
        self.forget_approval()

    # --- the cards ----------------------------------------------------------------------
    def _watch(self) -> None:
        if not self._watching and self.wallet is not None:
            self._watching = True
            self.wallet.watch(lambda reader, present: Clock.schedule_once(
                lambda _dt: self.on_card_event(reader, present)))

    def _wait_for(self, reader: str, what: str) -> None:
        self.insert_for = what
        self.reading = False
        self.nav.screen = Screen.METER_INSERT
        self._spawn(self._probe(reader, self._gen))

    async def _probe(self, reader: str, gen: int) -> None:
        """A card may be in the reader already."""
        if self.wallet is None:
            return
        try:
            present = await asyncio.to_thread(self.wallet.card_present, reader)
        except Exception:  # noqa: BLE001 - no card seen: keep waiting for one
            return
        if present and gen == self._gen:
            self.on_card_event(reader, True)

    def on_card_event(self, reader: str, present: bool) -> None:
        """A card arrived in or left a reader (on Kivy's thread)."""
        screen = self.nav.screen
        if present:
            if screen == Screen.METER_INSERT and not self.reading:
                if reader == CONTACT and self.insert_for in ("meter", "tear"):
                    self.reading = True
                    self._spawn(self._read(self._gen))
                elif reader == CONTACTLESS and self.insert_for == "wallet":
                    self.reading = True
                    self._process(self._pay_by_wallet(reader, self._gen))
            return
        if reader != CONTACT or self._view is None:
            return
        self.nav.dispatch("on_activity")
        if screen in CARD_STEPS or (screen in self.bank.screens and self._at_bank) or \
                (screen == Screen.METER_INSERT and self.insert_for == "wallet"):
            if self._at_bank:
                self.bank.stop()
            self.nav.go_idle()
            self.nav.show(Message("msg.sorry", "meter.card_removed", action="home", back_to=Screen.IDLE))

    async def _read(self, gen: int) -> None:
        assert self.service is not None
        if not await self.nav.hold(Screen.METER_INSERT):
            self.reading = False
            return
        try:
            view = await self.service.read(CONTACT, meter=self._meter_typed)
        except MeterNumberNeeded:
            if gen == self._gen:
                self.reading = False
                self._amount_screen("number")
            return
        except Exception as exc:  # noqa: BLE001 - every failure is shown
            if gen == self._gen:
                self._failed(exc, "reading the card")
            return
        if gen != self._gen:
            return
        self.reading = False
        self._show_view(view)
        if self.insert_for == "tear" and self._quote is not None and \
                (view.resolved is not None or view.count == (self._count_before + 1) % 0x10000):
            self.count = str(view.count)       # the torn sale is on the card now (written by this read)
            self._approved(view.resolved or self._quote.sale_id)
        else:
            self.nav.screen = Screen.METER

    def _show_view(self, view: MeterView) -> None:
        self._view = view
        self.utility, self.unit = view.utility, UNITS.get(view.utility, "")
        self.meter_no, self.house_no = view.meter, view.house_no
        self.remaining_text = f"{hundredths(view.remaining)} {self.unit}"
        self.cumulative_text = f"{hundredths(view.cumulative)} {self.unit}"
        self.status, self.applied = list(view.status), view.applied
        self.refusal_key = refusal(view.refusal).message_key if view.refusal else ""

    # --- the quantity -----------------------------------------------------------------------
    def buy(self) -> None:
        if self._view is not None and not self.refusal_key:
            self._amount_screen("units")

    def _amount_screen(self, mode: str) -> None:
        self.entry_mode, self.typed, self.note = mode, "", ""
        self.nav.screen = Screen.METER_AMOUNT

    def presets(self) -> tuple[str, ...]:
        return {"units": UNIT_PRESETS, "yuan": YUAN_PRESETS}.get(self.entry_mode, ())

    def set_mode(self, mode: str) -> None:
        if self.entry_mode != "number" and mode in ("units", "yuan"):
            self.entry_mode, self.typed, self.note = mode, "", ""

    def press(self, key: str) -> None:
        self.note = ""
        if self.entry_mode == "number":
            if key == "back":
                self.typed = self.typed[:-1]
            elif key == "clear":
                self.typed = ""
            elif key.isdigit() and len(self.typed) < METER_DIGITS:
                self.typed += key
            return
        typed = card_view.type_amount(self.typed, key)
        if typed is None:
            self.note = "meter.amount.bad"
        else:
            self.typed = typed

    def preset(self, value: str) -> None:
        self.typed = value
        self.amount_next()

    def amount_next(self) -> None:
        if self.entry_mode == "number":
            if len(self.typed) != METER_DIGITS:
                self.note = "meter.number.bad"
                return
            self._meter_typed = self.typed
            self._wait_for(CONTACT, "meter")
            return
        value = card_view.parse_amount(self.typed)
        if value is None or value.fen <= 0 or self._view is None or self.service is None:
            self.note = "meter.amount.bad"
            return
        self.reading = True
        self._spawn(self._ask_quote(value, self._gen))

    async def _ask_quote(self, value: Money, gen: int) -> None:
        assert self.service is not None and self._view is not None
        try:
            if self.entry_mode == "units":
                quote = await self.service.quote(self._view, quantity=value.fen)
            else:
                quote = await self.service.quote(self._view, amount=value)
        except MeterRefused as exc:
            if gen == self._gen:
                self.reading = False
                self.note = exc.message_key
            return
        except Exception as exc:  # noqa: BLE001
            if gen == self._gen:
                self._failed(exc, "quote")
            return
        if gen != self._gen:
            return
        self.reading = False
        self._quote = quote
        self._count_before = self._view.count
        self.quantity_text = f"{hundredths(quote.quantity)} {self.unit}"
        self.amount_text = quote.amount.display()
        self.lines = [(str(line["tier"]), f"{hundredths(line['quantity'])} {self.unit}", line["unit_price"],
                       Money(line["amount_fen"]).display()) for line in quote.lines]
        self.nav.screen = Screen.METER_PAY

    # --- paying ------------------------------------------------------------------------------
    def pay_by_bank_card(self) -> None:
        if self._quote is None:
            return
        self._at_bank = True
        self.bank.start(BankCardRequest(
            BankCardFor("meter", self.amount_text, house_no=self.house_no, card_tail=self.meter_no[-4:]),
            done=self._bank_card_done, back=self._back_from_bank, unavailable=self._unavailable,
            fail_back_to=Screen.METER_PAY))

    def _back_from_bank(self) -> None:
        self._at_bank = False
        self.nav.screen = Screen.METER_PAY

    def _unavailable(self) -> None:
        self._at_bank = False
        self.bank.drop()
        self.show_result("unavailable", "meter.result.unavailable.title", "bank.rc.96", action="home")

    def _bank_card_done(self, swipe: CardSwipe, pin_block: bytes | None) -> None:
        assert pin_block is not None and self._quote is not None and self.service is not None
        self._process(self._paid(self.service.pay_by_bank_card(self._quote, swipe, pin_block), self._gen))

    def pay_by_wallet(self) -> None:
        if self._quote is not None and self.wallet is not None:
            self._wait_for(CONTACTLESS, "wallet")

    async def _pay_by_wallet(self, reader: str, gen: int) -> None:
        from common.epurse import Wallet     # the IC card code: only with the wallet
        assert self.wallet is not None and self.service is not None and self._quote is not None
        wallet = self.wallet
        try:
            purse = await wallet.present(reader)
        except Exception as exc:  # noqa: BLE001
            if gen == self._gen:
                self._failed(exc, "reading the IC card")
            return

        async def pay(sale_id: str, amount: Money, house_no: str, items: list[list[str | int]]) -> Any:
            return await wallet.pay_meter(purse, Wallet.EP, sale_id, amount, house_no, items)
        await self._paid(self.service.pay_by_wallet(self._quote, pay), gen)

    def _process(self, work: Any) -> None:
        self.nav.screen = Screen.METER_PROCESSING
        self._spawn(work)                      # never cancelled: go_idle refuses meanwhile

    async def _paid(self, paying: Any, gen: int) -> None:
        try:
            outcome: MeterOutcome = await paying
        except MeterCardTorn:
            if gen == self._gen:
                self.bank.drop()
                self._wait_for(CONTACT, "tear")   # put the same card back: the next read writes it
            return
        except Exception as exc:  # noqa: BLE001
            if gen == self._gen:
                self._failed(exc, "payment")
            return
        if gen != self._gen:
            return
        self.bank.drop()
        self._at_bank = False
        if outcome.approved:
            self.count = str(outcome.count)
            self._approved(outcome.sale_id)
            return
        decline = decline_for(outcome.decline_code, BANK, OTHER_DECLINE)
        self.show_result("declined", "meter.result.declined.title", decline.body)

    def _approved(self, sale_id: str) -> None:
        self.reading = False
        self.reference = sale_id
        self.show_result("approved", "meter.result.title", "meter.result.body")
        if self.service is not None and sale_id:
            service, gen = self.service, self._gen
            self.receipt_state = "printing"

            async def receipt() -> None:
                try:
                    printed = await service.print_receipt(sale_id)
                except KeyError:
                    printed = False
                if gen == self._gen:
                    self.receipt_state = "printed" if printed else "not_printed"
            self.nav.print_in_background(receipt())

    def _failed(self, exc: BaseException, step: str) -> None:
        self.reading = False
        self._at_bank = False
        self.bank.drop()
        log_failure(log, "meter purchase", step, exc)
        if isinstance(exc, WalletInsufficient):
            self.nav.show(Message("msg.sorry", exc.message_key, action="home", back_to=Screen.IDLE))
            return
        back = Screen.IDLE
        if isinstance(exc, MeterRefused):
            self.nav.show(Message("meter.refused.title", exc.message_key, action="home", back_to=back, tone="info"))
        else:
            self.nav.show(payment_message(exc, back))

    def result_next(self) -> None:
        self.nav.go_idle()
