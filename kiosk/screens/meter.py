"""购电 / 购水 / 购气 prepaid meters' screens (the flow: meter_purchase.py; the
look: meter.kv): waiting for a card, the meter as its card tells it, the
quantity, the quote and the payment choice, the write, the receipt."""
from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from kiosk.screens.widgets import KButton


class MeterKey(KButton):
    """A key of the meter keypad ("0".."9", ".", "back", "clear")."""

    key = StringProperty("")


class MeterTierRow(BoxLayout):
    """One tier line of a quote: the tier, its quantity, unit price and amount."""

    tier = StringProperty("")
    quantity = StringProperty("")
    price = StringProperty("")
    amount = StringProperty("")


class MeterPreset(KButton):
    value = StringProperty("")


class MeterInsertScreen(Screen):
    pass


class MeterScreen(Screen):
    pass


class MeterAmountScreen(Screen):
    """The presets follow the flow's entry mode (kWh / m³, yuan, or none for a meter number)."""

    def on_kv_post(self, base_widget: Any) -> None:
        App.get_running_app().flow.meters.bind(entry_mode=self.fill_presets)
        self.fill_presets()

    def fill_presets(self, *_: Any) -> None:
        box = self.ids.presets
        box.clear_widgets()
        for value in App.get_running_app().flow.meters.presets():
            box.add_widget(MeterPreset(value=value))


class _Tiers(Screen):
    """The quote's tier lines (tier, quantity, unit price, amount) in ids.tiers."""

    def on_kv_post(self, base_widget: Any) -> None:
        App.get_running_app().flow.meters.bind(lines=self.fill_tiers)
        self.fill_tiers()

    def fill_tiers(self, *_: Any) -> None:
        box = self.ids.tiers
        box.clear_widgets()
        for tier, quantity, price, amount in App.get_running_app().flow.meters.lines:
            box.add_widget(MeterTierRow(tier=tier, quantity=quantity, price=price, amount=amount))


class MeterPayScreen(_Tiers):
    pass


class MeterProcessingScreen(Screen):
    """No Back, no countdown: the card is being written."""

    def on_pre_enter(self, *_: Any) -> None:
        self.ids.spinner.running = True

    def on_leave(self, *_: Any) -> None:
        self.ids.spinner.running = False


class MeterResultScreen(_Tiers):
    pass
