"""The errors raised by the parsers both sides share. `KeyedError` is the base
of every error a person is shown: it names its message in the catalogue
(`message_key`), so the kiosk's resident and the host's caller get a sentence,
never a traceback. The kiosk's own errors (kiosk/domain/errors.py) derive from it."""
from __future__ import annotations


class KeyedError(Exception):
    message_key = "error.generic"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail


class BadHouseNumber(KeyedError, ValueError):
    """Not building-unit-room (common/house.py): type it again."""

    message_key = "error.bad_house_number"


class BadSwipe(KeyedError, ValueError):
    """A partial or garbled swipe, or a number that fails its checks
    (common/bank_card.py, the card reader): swipe again."""

    message_key = "error.bad_swipe"
