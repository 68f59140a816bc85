"""银行卡服务 bank card services' own screens (the flow: bank_services.py):
the choice (balance or PIN change), the bank being asked, and the result (the
balance with "print" only if asked, the PIN changed, or why not). The swipe
and PIN screens are the shared bank card step's."""
from __future__ import annotations

from typing import Any

from kivy.uix.screenmanager import Screen


class BankcardChooseScreen(Screen):
    pass


class BankcardProcessingScreen(Screen):
    """No Back, no countdown: the bank's answer is always awaited."""

    def on_pre_enter(self, *_: Any) -> None:
        self.ids.spinner.running = True

    def on_leave(self, *_: Any) -> None:
        self.ids.spinner.running = False


class BankcardResultScreen(Screen):
    pass
