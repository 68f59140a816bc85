"""Request fields of the card-centre messages (docs/cards.md §5). Hex arrives in
either case and is kept upper case; a bad field is a BadRequest (400, nothing
changes)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from host.api_spec import JSON, REASON, TXN_ID, Operation, enum, hex_bytes, integer, obj, text
from host.bank.card_guard import refuse_pan, withheld
from host.bank.security import BadRequest, int_field, text_field
from common.epurse import Wallet

_SERIAL = re.compile(r"^[0-9A-Fa-f]{20}$")
_U32 = 2 ** 32


def serial_field(body: dict[str, Any]) -> str:
    value = body.get("serial")
    if not isinstance(value, str) or not _SERIAL.match(value):
        raise BadRequest("serial must be the card's application serial number, 20 hex digits")
    return value.upper()


def wallet_field(body: dict[str, Any]) -> Wallet:
    value = body.get("wallet")
    if value not in ("ED", "EP"):
        raise BadRequest("wallet must be ED or EP")
    return Wallet[value]


def hex_field(body: dict[str, Any], name: str, size: int) -> bytes:
    value = body.get(name)
    if not isinstance(value, str) or not re.fullmatch(rf"[0-9A-Fa-f]{{{2 * size}}}", value):
        raise BadRequest(f"{name} must be {2 * size} hex digits ({size} bytes)")
    return bytes.fromhex(value)


def u32_field(body: dict[str, Any], name: str, minimum: int = 0) -> int:
    value = int_field(body, name, minimum)
    if value >= _U32:
        raise BadRequest(f"{name} must fit in 4 bytes")
    return value


def card_counter_field(body: dict[str, Any]) -> int:
    """The card's counter. Not `counter`: that name is the message counter of
    the SecureChannel envelope (docs/payments.md), in the same JSON object."""
    value = int_field(body, "card_counter")
    if value > 0xFFFF:
        raise BadRequest("card_counter must fit in 2 bytes")
    return value


def when_field(body: dict[str, Any]) -> str:
    value = body.get("when")
    try:
        if not isinstance(value, str) or len(value) != 14 or not (value.isascii() and value.isdigit()):
            raise ValueError(value)
        datetime.strptime(value, "%Y%m%d%H%M%S")
    except ValueError:
        raise BadRequest("when must be 14 digits YYYYMMDDhhmmss, a real date and time") from None
    return value


def reason_field(body: dict[str, Any]) -> str | None:
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise BadRequest("reason must be a string")
    return withheld(reason)[:32] or None   # a cancel is never refused for its reason: money is in doubt


# --- the schemas of these fields (host.api_spec) ----------------------------------
SERIAL = hex_bytes(10)
U32 = integer(0, _U32 - 1)
WALLET = enum("ED", "EP")
# what every authorise carries (CardRequest below)
CARD_REQUEST: JSON = {"txn_id": TXN_ID, "serial": SERIAL, "amount_fen": integer(1, _U32 - 1), "balance_fen": U32,
                      "card_counter": integer(0, 0xFFFF), "random": hex_bytes(4), "term_id": hex_bytes(6),
                      "when": text(14, pattern="^[0-9]{14}$", min_len=14)}
COMPLETED = obj({"txn_id": TXN_ID, "status": enum("completed")})


def cancel_operation(kind: str) -> Operation:
    """cards/<kind>/cancel: the same message and answers for each kind (host.cards.txns.cancel)."""
    return Operation(
        f"Cancel a {kind} the card did not apply (any kiosk of the fleet); a txn_id never seen leaves a tombstone",
        request=obj({"txn_id": TXN_ID}, {"reason": REASON}),
        reply=obj({"txn_id": TXN_ID, "status": enum("cancelled", "already_cancelled", "not_found")}))


def approved(**fields: JSON) -> JSON:
    return obj({"txn_id": TXN_ID, "result": enum("approved"), **fields})


@dataclass(frozen=True, slots=True)
class CardRequest:
    """The fields every authorise carries: the card's answer to INITIALIZE and
    the terminal's own."""
    txn_id: str
    serial: str
    amount_fen: int
    balance_fen: int       # the card's balance before, as INITIALIZE answered it
    counter: int           # online (load/unload) or offline (purchase) counter, before
    random: bytes          # 4 bytes from the card
    term_id: bytes         # 6 bytes
    when: str              # YYYYMMDDhhmmss

    @property
    def when_bcd(self) -> bytes:
        return bytes.fromhex(self.when)


def card_request(body: dict[str, Any]) -> CardRequest:
    txn_id = text_field(body, "txn_id")
    refuse_pan([txn_id], what="txn_id")      # the bank card's own fields (pan, track2) aside
    return CardRequest(
        txn_id=txn_id, serial=serial_field(body), amount_fen=u32_field(body, "amount_fen", 1),
        balance_fen=u32_field(body, "balance_fen"), counter=card_counter_field(body),
        random=hex_field(body, "random", 4), term_id=hex_field(body, "term_id", 6), when=when_field(body))
