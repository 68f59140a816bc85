"""What the host makes of a meter user card as the kiosk read it: both images
decoded, EF 01's PK MAC and EF 02's RK MAC checked under the meter's keys (the
kiosk holds none), the meter found on this estate. A card that fails is a
refusal with its code, never a 500."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from common.meter_card import MeterCardError, MeterReturn, Purchase, check_meter_number
from common.meter_keys import MeterKeys, purchase_mac_ok, return_mac_ok
from host.bank.security import BadRequest
from host.meters import store

_HEX = frozenset("0123456789ABCDEFabcdef")


def hex_field(body: dict[str, Any], name: str, size: int) -> bytes:
    value = body.get(name)
    if not isinstance(value, str) or len(value) != 2 * size or not set(value) <= _HEX:
        raise BadRequest(f"{name} must be {2 * size} hex digits ({size} bytes)")
    return bytes.fromhex(value)


class CardRefused(Exception):
    """The card is not one to sell onto: `code` tells the kiosk why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class CardRead:
    ef01: Purchase
    ef02: MeterReturn
    meter: Any            # the prepaid_meters row, with house_no
    keys: MeterKeys       # the meter's own keys


def purchase_field(body: dict[str, Any], name: str = "ef01") -> Purchase:
    try:
        return Purchase.decode(hex_field(body, name, 20))
    except MeterCardError as exc:
        raise BadRequest(f"{name}: {exc}") from None


def read_card(conn: Connection, body: dict[str, Any], masters: MeterKeys) -> CardRead:
    """EF 01 and EF 02 as read, checked. A blank EF 01 (a card never sold onto)
    names its meter in `meter`. Refusals: foreign_meter (not this estate's, or
    not that utility), bad_card_mac (EF 01 or EF 02 not made under the meter's
    keys), lost_card."""
    ef01 = purchase_field(body)
    try:
        ef02 = MeterReturn.decode(hex_field(body, "ef02", 24))
    except MeterCardError as exc:
        raise BadRequest(f"ef02: {exc}") from None
    number = ef01.meter
    if ef01.blank:
        value = body.get("meter")
        try:
            number = check_meter_number(value) if isinstance(value, str) else ""
        except MeterCardError:
            number = ""
        if not number:
            raise BadRequest("a blank EF 01 needs the card's meter: 12 digits")
    row = store.meter(conn, number)
    if row is None or (ef01.utility is not None and ef01.utility.name.lower() != row.utility):
        raise CardRefused("foreign_meter", f"meter {number} is not a prepaid meter of this estate")
    keys = masters.for_meter(number)
    if not ef01.blank and not purchase_mac_ok(keys.pk, ef01):
        raise CardRefused("bad_card_mac", "EF 01's MAC is not the meter's")
    if not ef02.blank and not return_mac_ok(keys.rk, ef02):
        raise CardRefused("bad_card_mac", "EF 02's MAC is not the meter's")
    if row.card_state == "lost":
        raise CardRefused("lost_card", f"the card of meter {number} is reported lost")
    return CardRead(ef01, ef02, row, keys)
