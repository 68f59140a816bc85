"""Paying the bill from the IC wallet: choose the purse or the passbook. A
wallet that holds too little is shown greyed, with how much it is short."""
from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.uix.screenmanager import Screen

from kiosk.screens import card_view


class CardWalletScreen(Screen):
    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(lang=self._render)
        app.flow.cards.bind(view=self._render, bill=self._render)
        self._render()

    def _render(self, *_: Any) -> None:
        app = App.get_running_app()
        view, bill = app.flow.cards.view, app.flow.cards.bill
        options = {"EP": self.ids.ep, "ED": self.ids.ed}
        if view is None or bill is None:
            for option in options.values():
                option.balance = option.note = ""
                option.usable = False
            return
        for choice in card_view.wallet_choices(view, bill.total_due):
            option = options[choice.wallet.name]
            option.balance = choice.balance.display()
            option.usable = choice.usable
            if not choice.usable:
                option.note = app.t("card.choose.short", app.lang, amount=choice.short_by.display())
            else:
                option.note = app.t("card.choose.pin" if choice.needs_pin else "card.choose.no_pin", app.lang)
