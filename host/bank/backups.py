"""The kiosks' backup copies of their transactions (store and forward to the
property host). Idempotent on txn.txn_id; a copy must never hold a full PAN."""
from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from host.api_spec import TXN_ID, Operation, describe, enum, integer, nullable, obj, text
from host.bank.card_guard import looks_like_pan, refuse_pan
from host.bank.link_ledger import book_link_payment
from host.bank.security import BadRequest, Context, Message, text_field
from host.schema.bank import property_backups

__all__ = ["handle_backup", "looks_like_pan"]

_SERIAL = re.compile(r"[0-9A-F]{20}")
# fields of a copy with a fixed shape: searched alone, not joined to the others (a
# reference beside an auth code is 18 digits, and one in ten such pairs passes Luhn)
_SHAPES = {
    "reference": re.compile(r"W?[0-9]{11,12}"),
    "auth_code": re.compile(r"[0-9]{6}"),
    "masked_pan": re.compile(r"[0-9]{0,6}\*{3,}[0-9]{0,4}"),
    "house_no": re.compile(r"[0-9]{1,4}-[0-9]{1,4}-[0-9]{1,6}"),
    "at": re.compile(r"20[0-9]{2}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?"
                     r"(?:Z|[+-][0-9]{2}:[0-9]{2})?"),
    "business_day": re.compile(r"20[0-9]{2}-[0-9]{2}-[0-9]{2}"),
}
_EXISTS = select(property_backups.c.txn_id).where(property_backups.c.txn_id == bindparam("txn_id"))


def _registered_serial(conn: Connection, card: Any) -> bool:
    from host.schema.cards import ic_cards

    return (isinstance(card, str) and _SERIAL.fullmatch(card) is not None
            and conn.execute(select(ic_cards.c.serial).where(ic_cards.c.serial == card)).first() is not None)


def _opt(txn: dict[str, Any], name: str, max_len: int) -> str | None:
    value = txn.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise BadRequest(f"txn.{name} must be a string of at most {max_len} characters")
    return value


BACKUP = Operation(
    "Store the kiosk's backup copy of a transaction (idempotent on txn.txn_id); it holds no card number",
    request=obj({"txn": obj({"txn_id": TXN_ID}, {
        "house_no": nullable(text(16, min_len=0)), "amount_fen": nullable(integer(-(2 ** 63) + 1)),
        "masked_pan": nullable(text(19, min_len=0)), "result": nullable(text(24, min_len=0)),
        "reference": nullable(text(12, min_len=0)), "auth_code": nullable(text(6, min_len=0)),
        "at": nullable(text(32, min_len=0))})}),
    reply=obj({"stored": enum(True)}),
    description="Every field of the copy (and any other field of the message) is searched for a full "
                "card number: 400 if one is found (docs/payments.md, \"No card number\").")


@describe(BACKUP)
def handle_backup(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    txn = message.body.get("txn")
    if not isinstance(txn, dict):
        raise BadRequest("txn (an object) is required")
    # every field is searched (host.bank.card_guard), the envelope's counter and kiosk id
    # (a configured kiosk's) aside, and an IC wallet copy's card serial when it is one the
    # card centre issued (20 digits: most serials have a Luhn-valid window, yet a registered
    # serial cannot smuggle a PAN); fields of a fixed shape are searched alone, the rest
    # alone and together (a PAN split across fields)
    free: list[Any] = [{k: v for k, v in message.body.items() if k not in ("counter", "kiosk_id", "txn")}]
    shaped: list[Any] = []
    registered = _registered_serial(conn, txn.get("card"))
    for key, value in txn.items():
        if key == "card" and registered:
            continue
        shape = _SHAPES.get(key)
        fixed = (isinstance(value, int) and not isinstance(value, bool) if key == "amount_fen"
                 else shape is not None and isinstance(value, str) and shape.fullmatch(value) is not None)
        (shaped if fixed else free).append(value if fixed else {key: value})
    refuse_pan(free, shaped, what="the copy", advice="send the masked PAN only")
    txn_id = text_field(txn, "txn_id")
    amount = txn.get("amount_fen")
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or abs(amount) >= 2 ** 63):
        raise BadRequest("txn.amount_fen must be an integer (64-bit)")
    if conn.execute(_EXISTS, {"txn_id": txn_id}).first() is None:
        conn.execute(insert(property_backups).values(
            txn_id=txn_id, kiosk_id=message.kiosk_id, house_no=_opt(txn, "house_no", 16), amount_fen=amount,
            masked_pan=_opt(txn, "masked_pan", 19), result=_opt(txn, "result", 24),
            reference=_opt(txn, "reference", 12), auth_code=_opt(txn, "auth_code", 6),
            at=_opt(txn, "at", 32), txn_json=json.dumps(txn, ensure_ascii=False, separators=(",", ":")),
            received_at=ctx.now))
        if txn.get("kind") is None and txn.get("result") == "approved":
            # a bill paid over the bank link: the ledger learns of it here (host.bank.link_ledger)
            book_link_payment(conn, ctx.settings, kiosk_id=message.kiosk_id, txn_id=txn_id,
                              rrn=_opt(txn, "reference", 12) or "", now=ctx.now)
    return {"stored": True}
