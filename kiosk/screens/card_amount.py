"""Load / unload, the amount: the wallet (load), the limits, presets and a
keypad. An amount out of range is refused here with a plain sentence, before
anything else happens."""
from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from common.epurse import Wallet
from kiosk.screens import card_view
from kiosk.screens.card_widgets import PresetButton


class CardAmountScreen(Screen):
    balance = StringProperty("")   # of the chosen wallet
    limits = StringProperty("")

    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(lang=self._render)
        app.flow.cards.bind(view=self._render, wallet=self._render, op=self._render)
        self._render()

    def _render(self, *_: Any) -> None:
        app = App.get_running_app()
        cards = app.flow.cards
        presets = self.ids.presets
        presets.clear_widgets()
        bounds = cards.bounds()
        if cards.view is None or bounds is None or cards.op not in ("load", "unload"):
            self.balance = self.limits = ""
            return
        self.balance = cards.view.balance(Wallet[cards.wallet]).display()
        if cards.op == "load":
            self.limits = app.t("card.amount.limits.load", app.lang, low=bounds.low.display(),
                                high=cards.service.limits.max_load.display(), room=bounds.room.display())
        else:
            self.limits = app.t("card.amount.limits.unload", app.lang, room=bounds.room.display())
        for amount in cards.service.limits.presets:
            usable = card_view.amount_problem(amount, bounds) is None
            presets.add_widget(PresetButton(amount=amount, text=amount.display(), disabled=not usable))
