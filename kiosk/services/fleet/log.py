"""The kiosk's latest warning or error log line, kept for the heartbeat (the
console shows it as the kiosk's last error)."""
from __future__ import annotations

import logging
from collections.abc import Callable

# The fleet package's own loggers: the heartbeat's own trouble shows as
# offline on the console, not as the kiosk's last error.
_FLEET_LOGGERS = __name__.rpartition(".")[0]


class LastErrorHandler(logging.Handler):
    """Hands every WARNING or worse record's message to `report` (FleetService.report_error)."""

    def __init__(self, report: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_FLEET_LOGGERS):
            return
        try:
            self.report(record.getMessage())
        except Exception:  # noqa: BLE001 - logging must never raise: the standard way to say so
            self.handleError(record)
