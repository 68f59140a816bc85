"""Card services, step 2: the card as read -- holder, number, both balances,
the last 10 transactions -- and what can be done with it."""
from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.factory import Factory
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.screens import card_view
from kiosk.screens.card_widgets import HistoryRowView


class CardScreen(Screen):
    holder = StringProperty("")
    serial = StringProperty("")
    valid_until = StringProperty("")
    ep_balance = StringProperty("")
    ed_balance = StringProperty("")
    can_unload = BooleanProperty(False)
    resolved = BooleanProperty(False)

    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(lang=self._render)
        app.flow.cards.bind(view=self._render)
        self._render()

    def _render(self, *_: Any) -> None:
        app = App.get_running_app()
        rows = self.ids.history
        rows.clear_widgets()
        view = app.flow.cards.view
        if view is None:
            self.holder = self.serial = self.valid_until = self.ep_balance = self.ed_balance = ""
            self.can_unload = self.resolved = False
            return
        self.holder = view.holder
        self.serial = card_view.group_serial(view.serial)
        self.valid_until = f"{view.expiry:%Y-%m-%d}"
        self.ep_balance, self.ed_balance = view.ep_balance.display(), view.ed_balance.display()
        self.can_unload = bool(view.ed_balance)
        self.resolved = bool(view.resolved)
        for i, row in enumerate(card_view.history_rows(view.history, app.lang)):
            rows.add_widget(HistoryRowView(when=row.when, what=row.what, amount=row.amount, credit=row.credit,
                                           first=i == 0))
        if not view.history:
            rows.add_widget(Factory.HistoryEmpty(text=app.t("card.history.none", app.lang)))
        self.ids.history_scroll.scroll_y = 1
