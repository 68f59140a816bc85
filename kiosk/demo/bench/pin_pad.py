"""The bench's simulated PIN pad: the twelve keys plus Cancel / Enter on
SimPinPad.press, and the pad's own display (an asterisk per digit)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from kiosk.demo.bench.widgets import BenchButton, BenchSection

if TYPE_CHECKING:
    from kiosk.devices.sim.pinpad import SimPinPad


class PadKey(BenchButton):
    key = StringProperty("")     # what SimPinPad.press takes: '0'..'9', backspace, clear, cancel, enter


class PinPadBench(BenchSection):
    pin_entering = BooleanProperty(False)
    pin_digits = NumericProperty(0)

    def __init__(self, pinpad: SimPinPad | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pinpad = pinpad
        for key in self.walk(restrict=True):
            if isinstance(key, PadKey):
                key.bind(on_release=lambda button: self.press(button.key))
        if pinpad is not None:
            # the pad's listener fires on its device thread: only schedule a refresh
            pinpad.listener = lambda state: Clock.schedule_once(lambda _dt: self._set_state(state))
            self._set_state(pinpad.state)

    def detach(self) -> None:
        if self.pinpad is not None:
            self.pinpad.listener = None

    def _set_state(self, state: Any) -> None:
        self.pin_entering = state.entering
        self.pin_digits = state.digits

    def press(self, key: str) -> bool:
        """A key of the simulated PIN pad: '0'..'9', backspace, clear, cancel, enter."""
        return self.pinpad.press(key) if self.pinpad is not None else False
