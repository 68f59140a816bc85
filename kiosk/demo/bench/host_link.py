"""The bench's host section: the reference host's on/off switch, the staff
console's address, and the network link between kiosk and host (up, down,
replies lost). All of it goes through BenchControls, which the demo runner
implements (a host process behind a kiosk.devices.sim.network.FaultyLink)."""
from __future__ import annotations

import logging
import webbrowser
from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty

from kiosk.demo.bench.controls import BenchControls, has_network
from kiosk.demo.bench.widgets import BenchSection
from kiosk.devices.sim.network import LinkMode

log = logging.getLogger(__name__)

NETWORK_MODES = ("up", "down", "drop_replies")   # kiosk.devices.sim.network.LinkMode values


class HostLink(BenchSection):
    controls = ObjectProperty(None)   # BenchControls
    host_running = BooleanProperty(False)
    switching = BooleanProperty(False)
    failure = StringProperty("")              # the last switch that failed, host or network
    console_url = StringProperty("")          # the staff console, opened from the bench
    console_note = StringProperty("")         # said after trying to open it
    network_wired = BooleanProperty(False)
    network_mode = StringProperty("up")
    network_switching = BooleanProperty(False)

    def __init__(self, controls: BenchControls, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.controls = controls
        self.host_running = controls.host_running
        self.console_url = getattr(controls, "console_url", "")
        self.network_wired = has_network(controls)
        if self.network_wired:
            self.network_mode = _mode_value(controls.network_mode)

    def open_console(self) -> None:
        """The staff console in the desktop's browser (the demo's sign-ins are shown beside it)."""
        opened = bool(self.console_url) and webbrowser.open(self.console_url, new=2)
        self.console_note = "" if opened else "bench.console.no_browser"

    def toggle_host(self) -> None:
        if self.switching:
            return
        self.switching = True
        self.failure = ""
        App.get_running_app().spawn(self._switch(not self.host_running))

    async def _switch(self, running: bool) -> None:
        try:
            await self.controls.set_host_running(running)
        except Exception as exc:  # noqa: BLE001 - a bench failure is shown, not raised
            log.exception("bench: switching the host failed")
            self.failure = str(exc) or type(exc).__name__
        finally:
            self.host_running = self.controls.host_running
            self.switching = False

    def set_network(self, value: str) -> None:
        if not self.network_wired or self.network_switching or value == self.network_mode:
            return
        self.network_switching = True
        self.failure = ""
        App.get_running_app().spawn(self._set_network(value))

    async def _set_network(self, value: str) -> None:
        try:
            await self.controls.set_network_mode(LinkMode(value))
        except Exception as exc:  # noqa: BLE001
            log.exception("bench: switching the network failed")
            self.failure = str(exc) or type(exc).__name__
        finally:
            self.network_mode = _mode_value(self.controls.network_mode)
            self.network_switching = False


def _mode_value(mode: Any) -> str:
    return str(getattr(mode, "value", mode))
