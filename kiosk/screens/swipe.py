"""Card payment, step 1: swipe the bank card (the amount is shown)."""
from __future__ import annotations

from typing import Any

from kivy.uix.screenmanager import Screen


class SwipeScreen(Screen):
    def on_pre_enter(self, *_: Any) -> None:
        self.ids.art.running = True

    def on_leave(self, *_: Any) -> None:
        self.ids.art.running = False
