"""The suite's clocks. No test reads the machine's date: each runs at an instant
it chooses, and the date-sensitive ones at each of the awkward INSTANTS."""
from __future__ import annotations

from datetime import date, datetime, time

from common.clock import SystemClock

TODAY = date(2026, 11, 21)   # the shared demo estate's "today": bills and late fees are the same every run

# the instants where dates go wrong: a month's last day, a year's, a leap day, and
# the last second of a business day
INSTANTS = {
    "month-end": datetime(2027, 4, 30, 10, 30),
    "year-end": datetime(2026, 12, 31, 18, 0),
    "leap-day": datetime(2028, 2, 29, 9, 15),
    "before-midnight": datetime(2027, 6, 14, 23, 59, 59),
}


def running_from(day: date, at: time = time(10, 30)) -> SystemClock:
    """A clock that reads `day` at `at` when made and then runs in real time
    (timeouts, heartbeats and sessions behave as in production)."""
    return SystemClock.starting_at(datetime.combine(day, at))
