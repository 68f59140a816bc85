"""Typed errors, split by who must act. Each carries a catalogue key for the
message a resident sees (see kiosk/i18n.py)."""
from __future__ import annotations


class KioskError(Exception):
    """Base of every error the kiosk shows to a resident."""

    message_key = "error.generic"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail


class BadHouseNumber(KioskError, ValueError):
    message_key = "error.bad_house_number"


# --- host errors: unavailable vs rejected vs (later) outcome unknown ---------
class HostError(KioskError):
    message_key = "error.host"


class HostUnavailable(HostError):
    """No answer, connection refused, 5xx: nothing happened, retrying is safe."""

    message_key = "error.host_unavailable"


class HostRejected(HostError):
    """The host answered and said no."""

    message_key = "error.host_rejected"


class HouseNotFound(HostRejected):
    message_key = "error.house_not_found"


class BadHostReply(HostError):
    """The host answered something we cannot understand."""

    message_key = "error.host_bad_reply"
