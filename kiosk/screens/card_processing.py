"""Card services: the card centre and the card are being asked. Keep the card
in place; no Back, no countdown (Navigator.go_idle refuses meanwhile)."""
from __future__ import annotations

from typing import Any

from kivy.uix.screenmanager import Screen


class CardProcessingScreen(Screen):
    def on_pre_enter(self, *_: Any) -> None:
        self.ids.spinner.running = True

    def on_leave(self, *_: Any) -> None:
        self.ids.spinner.running = False
