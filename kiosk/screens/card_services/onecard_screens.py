"""The estate one-card's screens (their rules: onecard.kv beside this module;
what they do: onecard.py, which routes OneCardService's answers): the card with
its balance and last records, a load's amount, the household's bill paid from
the card, the result with its receipt, and a refusal in plain words."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from kivy.app import App
from kivy.factory import Factory
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from common.onecard import TxnType
from kiosk.i18n import tr
from kiosk.screens import card_widgets  # noqa: F401  (registers the card widgets: keypad, presets)
from kiosk.screens import card_view
from kiosk.screens.card_widgets import PresetButton
from kiosk.services.onecard_card import RecordLine
from kiosk.services.onecard_receipt import masked_uid


@dataclass(frozen=True, slots=True)
class RecordRow:
    when: str            # "12-05 14:10" (the card keeps month, day, hour, minute)
    what: str            # the type in words
    amount: str          # "+¥100.00" / "-¥85.50"
    balance: str         # the purse after it
    credit: bool


def record_words(txn_type: int, lang: str) -> str:
    try:
        return tr(f"onecard.txn.{TxnType(txn_type).name}", lang)
    except ValueError:
        return tr("card.txn.other", lang)


def record_rows(records: Iterable[RecordLine], lang: str) -> list[RecordRow]:
    rows = []
    for r in records:
        credit = TxnType(r.txn_type).is_credit if r.txn_type in TxnType._value2member_map_ else False
        when = f"{r.when[0:2]}-{r.when[2:4]} {r.when[4:6]}:{r.when[6:8]}" if len(r.when) == 8 else r.when
        rows.append(RecordRow(when, record_words(r.txn_type, lang), ("+" if credit else "-") + r.amount.display(),
                              r.balance_after.display(), credit))
    return rows


class OneCardRecordRow(BoxLayout):
    """One of the card's records: time, type, signed amount, balance after."""
    when = StringProperty("")
    what = StringProperty("")
    amount = StringProperty("")
    balance = StringProperty("")
    credit = BooleanProperty(False)


def _steps() -> Any:
    return App.get_running_app().flow.cards.onecard


class OneCardScreen(Screen):
    holder = StringProperty("")
    house = StringProperty("")
    card_no = StringProperty("")
    balance = StringProperty("")
    settled = BooleanProperty(False)     # this presentation finished an earlier torn operation

    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(lang=self._render)
        if _steps() is not None:
            _steps().bind(view=self._render)
        self._render()

    def _render(self, *_: Any) -> None:
        app = App.get_running_app()
        rows = self.ids.records
        rows.clear_widgets()
        view = _steps().view if _steps() is not None else None
        if view is None:
            self.holder = self.house = self.card_no = self.balance = ""
            self.settled = False
            return
        self.holder, self.house, self.card_no = view.holder, view.house_no, masked_uid(view.uid)
        self.balance, self.settled = view.balance.display(), bool(view.settled)
        for row in record_rows(view.records, app.lang):
            rows.add_widget(OneCardRecordRow(when=row.when, what=row.what, amount=row.amount,
                                             balance=row.balance, credit=row.credit))
        if not view.records:
            rows.add_widget(Factory.HistoryEmpty(text=app.t("card.history.none", app.lang)))
        self.ids.records_scroll.scroll_y = 1


class OneCardAmountScreen(Screen):
    balance = StringProperty("")
    limits = StringProperty("")

    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(lang=self._render)
        if _steps() is not None:
            _steps().bind(view=self._render, kind=self._render)
        self._render()

    def _render(self, *_: Any) -> None:
        app = App.get_running_app()
        presets = self.ids.presets
        presets.clear_widgets()
        steps = _steps()
        bounds = steps.bounds() if steps is not None else None
        if steps is None or steps.view is None or bounds is None:
            self.balance = self.limits = ""
            return
        self.balance = steps.view.balance.display()
        self.limits = app.t("onecard.amount.limits", app.lang, low=bounds.low.display(),
                            high=bounds.high.display())
        for amount in steps.limits.presets:
            usable = card_view.amount_problem(amount, bounds) is None
            presets.add_widget(PresetButton(amount=amount, text=amount.display(), disabled=not usable))


class OneCardBillScreen(Screen):
    house = StringProperty("")
    months = StringProperty("")          # the periods paid, e.g. "2026-10, 2026-11"
    late_fee = StringProperty("")
    total = StringProperty("")
    balance = StringProperty("")
    after = StringProperty("")           # the purse after paying ("" when it cannot)
    note = StringProperty("")            # "" | a catalogue key: nothing due / not enough on the card

    def on_kv_post(self, base_widget: Any) -> None:
        if _steps() is not None:
            _steps().bind(bill=self._render, view=self._render)
        self._render()

    def _render(self, *_: Any) -> None:
        steps = _steps()
        bill, view = (steps.bill, steps.view) if steps is not None else (None, None)
        if bill is None or view is None:
            self.house = self.months = self.late_fee = self.total = self.balance = self.after = self.note = ""
            return
        periods = [a.period for a in bill.arrears]
        if bill.current is not None and not bill.current.paid:
            periods.append(bill.current.period)
        self.house, self.months = str(bill.house), ", ".join(periods)
        self.late_fee = bill.late_fee.display() if bill.late_fee else ""
        self.total, self.balance = bill.total_due.display(), view.balance.display()
        if not bill.total_due:
            self.note, self.after = "onecard.bill.nothing_due", ""
        elif view.balance < bill.total_due:
            self.note, self.after = "onecard.bill.short", ""
        else:
            self.note, self.after = "", (view.balance - bill.total_due).display()


class OneCardResultScreen(Screen):
    pass


class OneCardRefusedScreen(Screen):
    pass
