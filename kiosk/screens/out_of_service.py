"""Staff took the kiosk out of service from the console: say so kindly, point
to the property office (the kiosk's notices), accept no card (Navigator.out_of_service)."""
from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import ListProperty
from kivy.uix.screenmanager import Screen

from kiosk.i18n import pick


class OutOfServiceScreen(Screen):
    notices = ListProperty([])

    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(lang=self._refresh, settings=self._refresh)
        self._refresh()

    def _refresh(self, *_: Any) -> None:
        app = App.get_running_app()
        self.notices = [pick(n, app.lang) for n in app.settings.notices]
