"""The countdown back to the idle screen, shown on every other screen."""
from __future__ import annotations

import math
import time
from typing import Any

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, NumericProperty


class IdleTimer(EventDispatcher):
    remaining = NumericProperty(0)   # whole seconds left, for display
    active = BooleanProperty(False)
    __events__ = ("on_expire",)

    def __init__(self, timeout_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout_s = timeout_s
        self._deadline = 0.0
        self._event = Clock.schedule_interval(self._tick, 0.2)

    def restart(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.remaining = math.ceil(self.timeout_s)
        self.active = True

    def poke(self) -> None:
        """Any touch: start the countdown again."""
        if self.active:
            self.restart()

    def stop(self) -> None:
        self.active = False
        self.remaining = math.ceil(self.timeout_s)

    def expire_now(self) -> None:
        """For the tour and tests: skip the wait."""
        if self.active:
            self._deadline = time.monotonic()
            self._tick(0)

    def close(self) -> None:
        self._event.cancel()

    def _tick(self, _dt: float) -> None:
        if not self.active:
            return
        left = self._deadline - time.monotonic()
        self.remaining = max(0, math.ceil(left))
        if left <= 0:
            self.active = False
            self.dispatch("on_expire")

    def on_expire(self) -> None:
        pass
