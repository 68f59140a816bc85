"""Time as an input. Code that reads "now" or "today" takes a Clock from the
composition root; tests hand in a clock set to the instant they need (the last
day of a month, 31 Dec, 29 Feb, a second before midnight), so no result
depends on the day the suite runs.

Two readings, for two jobs: `wall()` (and `now()`/`today()` derived from it)
for what people read and what is booked on a day; `mono()` for measuring
intervals (timeouts, offline detection), which a clock step must not disturb.
`now()` is naive local time, as the journals and receipts have always shown.
"""
from __future__ import annotations

import time
from datetime import date, datetime
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float: ...      # epoch seconds
    def mono(self) -> float: ...      # seconds, only differences mean anything
    def now(self) -> datetime: ...    # naive local date and time of wall()
    def today(self) -> date: ...


class SystemClock:
    """The machine's clock; `SystemClock.starting_at(instant)` runs in real
    time from `instant` instead (a demo or a test that needs time to pass)."""

    def __init__(self, offset_s: float = 0.0) -> None:
        self.offset_s = offset_s

    @classmethod
    def starting_at(cls, instant: datetime) -> SystemClock:
        return cls(instant.timestamp() - time.time())

    def wall(self) -> float:
        return time.time() + self.offset_s

    def mono(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        # one reading of wall(): a date and a time from two readings could
        # straddle midnight and book 23:59:59.9 on the next day
        return datetime.fromtimestamp(self.wall())

    def today(self) -> date:
        return self.now().date()


class ManualClock(SystemClock):
    """For tests: stands still until told to move."""

    def __init__(self, at: datetime | float = 1_795_000_000.0) -> None:
        super().__init__()
        self._wall = at.timestamp() if isinstance(at, datetime) else float(at)
        self._mono = 1000.0

    def wall(self) -> float:
        return self._wall

    def mono(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds

    def set(self, at: datetime) -> None:
        """Jump the wall clock (as NTP or a person might); monotonic time moves
        forward only, by the step if it was forward."""
        step = at.timestamp() - self._wall
        self._wall = at.timestamp()
        self._mono += max(0.0, step)
