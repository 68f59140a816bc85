"""Card payment, step 3: the bank is being asked. No Back, no countdown."""
from __future__ import annotations

from typing import Any

from kivy.uix.screenmanager import Screen


class ProcessingScreen(Screen):
    def on_pre_enter(self, *_: Any) -> None:
        self.ids.spinner.running = True

    def on_leave(self, *_: Any) -> None:
        self.ids.spinner.running = False
