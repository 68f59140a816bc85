"""转账 Transfer's screens (their look: transfer.kv beside this module; what
they do: transfer.py, which routes TransferService's answers): the cards in
the readers with from / to, the amount within the limits, the confirmation,
the write, the result with both cards masked, and the tear."""
from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from kiosk.screens.card_services.transfer import PRESETS
from kiosk.screens.widgets import KButton


def _steps() -> Any:
    return App.get_running_app().flow.transfers


class TransferCardRow(BoxLayout):
    """A card present: its words, and the From / To choices."""
    index = NumericProperty(0)
    label = StringProperty("")
    is_src = BooleanProperty(False)
    is_dst = BooleanProperty(False)


class TransferPreset(KButton):
    amount = ObjectProperty(None)


class TransferScreen(Screen):
    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(lang=self._render)
        if _steps() is not None:
            _steps().bind(cards=self._render, src=self._render, dst=self._render)
        self._render()

    def _render(self, *_: Any) -> None:
        app, steps = App.get_running_app(), _steps()
        rows = self.ids.cards
        rows.clear_widgets()
        if steps is None:
            return
        for i, card in enumerate(steps.cards):
            rows.add_widget(TransferCardRow(index=i, label=steps.card_label(card, app.lang),
                                            is_src=steps.src == i, is_dst=steps.dst == i))


class TransferAmountScreen(Screen):
    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(lang=self._render)
        if _steps() is not None:
            _steps().bind(limits_text=self._render, amount=self._render)
        self._render()

    def _render(self, *_: Any) -> None:
        steps = _steps()
        box = self.ids.presets
        box.clear_widgets()
        if steps is None:
            return
        for amount in PRESETS:
            box.add_widget(TransferPreset(amount=amount, text=amount.display(), disabled=not steps.usable(amount),
                                          role="accent" if steps.amount == amount else "secondary"))


class TransferConfirmScreen(Screen):
    pass


class TransferProcessingScreen(Screen):
    """No Back, no countdown: the cards are being written."""

    def on_pre_enter(self, *_: Any) -> None:
        self.ids.spinner.running = True

    def on_leave(self, *_: Any) -> None:
        self.ids.spinner.running = False


class TransferResultScreen(Screen):
    pass


class TransferTearScreen(Screen):
    pass
