"""Card services, step 1: insert the card into the slot or hold it on the
contactless reader; reading starts by itself when the card arrives."""
from __future__ import annotations

from typing import Any

from kivy.uix.screenmanager import Screen

from kiosk.screens import card_widgets  # noqa: F401  (registers the card widgets)


class CardInsertScreen(Screen):
    def on_pre_enter(self, *_: Any) -> None:
        self.ids.art.running = True

    def on_leave(self, *_: Any) -> None:
        self.ids.art.running = False
