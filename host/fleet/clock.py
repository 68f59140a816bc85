"""Wall time for what staff read, monotonic time for deciding who is offline
(a clock step must not take the whole fleet offline). Tests inject a fake."""
from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float: ...   # epoch seconds
    def mono(self) -> float: ...


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def mono(self) -> float:
        return time.monotonic()


class ManualClock:
    """For tests: time moves only when told to."""

    def __init__(self, wall: float = 1_795_000_000.0) -> None:
        self._wall, self._mono = wall, 1000.0

    def wall(self) -> float:
        return self._wall

    def mono(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds
