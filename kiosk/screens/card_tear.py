"""The card left while it was being written: ask for the same card back, with
its last digits and a countdown. The wallet service asks the card what it did
(never guessed); if it does not come back, the card centre settles it the next
time the card is presented."""
from __future__ import annotations

from typing import Any

from kivy.uix.screenmanager import Screen

from kiosk.screens import card_widgets  # noqa: F401  (registers the card widgets)


class CardTearScreen(Screen):
    def on_pre_enter(self, *_: Any) -> None:
        self.ids.art.running = True

    def on_leave(self, *_: Any) -> None:
        self.ids.art.running = False
