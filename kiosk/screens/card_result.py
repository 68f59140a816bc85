"""Card services, the end: loaded / unloaded / paid with the new balance and a
receipt, PIN changed, or why not and the way out."""
from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, DictProperty
from kivy.uix.screenmanager import Screen

from kiosk.screens.widgets import InfoRow


class CardResultScreen(Screen):
    show_details = BooleanProperty(False)   # amount, balance, bank card, reference
    offers_card = BooleanProperty(False)    # "back to my card" (the card screen afresh)
    second_shown = BooleanProperty(False)
    rows = DictProperty({})                 # the detail rows shown, by name (tests read them)

    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(lang=self._render)
        app.flow.cards.bind(result_kind=self._render, op=self._render, result_action=self._render,
                            amount_text=self._render, result_balance=self._render, result_wallet=self._render,
                            masked_pan=self._render, reference=self._render)
        self._render()

    def _render(self, *_: Any) -> None:
        app = App.get_running_app()
        cards = app.flow.cards
        approved = cards.result_kind == "approved"
        self.show_details = approved and cards.op != "change_pin"
        self.offers_card = approved and cards.op in ("load", "unload", "change_pin")
        self.second_shown = self.offers_card or bool(cards.result_action)
        box = self.ids.details
        box.clear_widgets()
        rows: dict[str, InfoRow] = {}
        if self.show_details:
            wallet = app.t(f"card.wallet.{cards.result_wallet}", app.lang) if cards.result_wallet else ""
            for name, label, value in (
                    ("amount", app.t("result.amount", app.lang), cards.amount_text),
                    ("balance", app.t("card.result.new_balance", app.lang, wallet=wallet), cards.result_balance),
                    ("masked_pan", app.t("result.card", app.lang), cards.masked_pan),
                    ("reference", app.t("result.reference", app.lang), cards.reference)):
                if value:
                    rows[name] = InfoRow(label=label, value=value)
                    box.add_widget(rows[name])
        self.rows = rows
