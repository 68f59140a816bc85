"""The device bench frame beside the kiosk screen (demo and tests only).
Today: the reference host's on/off switch. The simulated card wallet, PIN pad
and receipt output get their place here and arrive with card payment."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.bench.controls import BenchControls

log = logging.getLogger(__name__)

BENCH_WIDTH = 400  # px beside the kiosk area


class BenchPanel(BoxLayout):
    controls = ObjectProperty(None)   # BenchControls
    host_running = BooleanProperty(False)
    switching = BooleanProperty(False)
    failure = StringProperty("")

    def __init__(self, controls: BenchControls, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.controls = controls
        self.host_running = controls.host_running
        self._task: asyncio.Task[None] | None = None

    def toggle_host(self) -> None:
        if self.switching:
            return
        self.switching = True
        self.failure = ""
        self._task = App.get_running_app().spawn(self._switch(not self.host_running))

    async def _switch(self, running: bool) -> None:
        try:
            await self.controls.set_host_running(running)
        except Exception as exc:  # noqa: BLE001 - a bench failure is shown, not raised
            log.exception("bench: switching the host failed")
            self.failure = str(exc) or type(exc).__name__
        finally:
            self.host_running = self.controls.host_running
            self.switching = False
