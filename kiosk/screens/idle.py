"""Attract screen: estate, date and clock, notices, the big choices (缴费, 卡务, 银行卡服务, 购电/购水/购气)."""
from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.i18n import format_clock, format_date, pick


class IdleScreen(Screen):
    date_text = StringProperty("")
    clock_text = StringProperty("")
    notices = ListProperty([])

    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        if not app.flow.offers("meter"):    # 购电/购水/购气 only where the kiosk sells onto meter cards
            self.ids.meter.parent.remove_widget(self.ids.meter)
        app.bind(lang=self._refresh)
        self._refresh()
        Clock.schedule_interval(self._refresh, 1.0)

    def _refresh(self, *_: Any) -> None:
        app = App.get_running_app()
        if app is None:                     # the app stopped; this clock's last tick
            return
        now = app.kiosk.clock.now()
        self.date_text = format_date(now.date(), app.lang)
        self.clock_text = format_clock(now)
        self.notices = [pick(n, app.lang) for n in app.settings.notices]
