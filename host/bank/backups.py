"""The kiosks' backup copies of their transactions (store and forward to the
property host). Idempotent on txn.txn_id; a copy must never hold a full PAN."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from host.bank.security import BadRequest, Context, Message, text_field
from host.db import property_backups
from kiosk.domain.card import luhn_ok

_DIGIT_RUN = re.compile(r"\d{13,}")
_SERIAL = re.compile(r"[0-9A-F]{20}")
_EXISTS = select(property_backups.c.txn_id).where(property_backups.c.txn_id == bindparam("txn_id"))


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _timestamp(run: str) -> bool:
    """YYYYMMDD... with a 20xx date: a compact time stamp (kiosk txn ids hold one,
    e.g. KIOSK-DEMO-01-20261121105310-8C6EDC). No card scheme issues PANs that
    begin with 20 (Mastercard's 2-series is 2221-2720), so this never hides a PAN."""
    try:
        date(int(run[:4]), int(run[4:6]), int(run[6:8]))
    except ValueError:
        return False
    return run.startswith("20")


def looks_like_pan(text: str) -> bool:
    """A run of 13-19 digits passing the Luhn check, anywhere in `text`, unless
    it is a time stamp. A run longer than 19 digits (no legitimate field has one)
    is refused if any 13-19 digit window of it passes, so a PAN cannot hide
    behind a prefix."""
    for match in _DIGIT_RUN.finditer(text):
        run = match.group()
        if _timestamp(run):
            continue
        if len(run) <= 19:
            if luhn_ok(run):
                return True
            continue
        for length in range(13, 20):
            if any(luhn_ok(run[i:i + length]) for i in range(len(run) - length + 1)):
                return True
    return False


def _registered_serial(conn: Connection, card: Any) -> bool:
    from host.cards.schema import ic_cards

    return (isinstance(card, str) and _SERIAL.fullmatch(card) is not None
            and conn.execute(select(ic_cards.c.serial).where(ic_cards.c.serial == card)).first() is not None)


def _opt(txn: dict[str, Any], name: str, max_len: int) -> str | None:
    value = txn.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise BadRequest(f"txn.{name} must be a string of at most {max_len} characters")
    return value


def handle_backup(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    txn = message.body.get("txn")
    if not isinstance(txn, dict):
        raise BadRequest("txn (an object) is required")
    # everything but the envelope's own counter is searched (kiosk ids never hold 13 digits),
    # and an IC wallet copy's card serial when it is one the card centre issued (20 digits:
    # most serials have a Luhn-valid window, yet a registered serial cannot smuggle a PAN)
    searched = {k: v for k, v in message.body.items() if k != "counter"}
    if _registered_serial(conn, txn.get("card")):
        searched["txn"] = {k: v for k, v in txn.items() if k != "card"}
    if any(looks_like_pan(s) for s in _scalars(searched)):
        raise BadRequest("the copy holds what looks like a full card number; send the masked PAN only")
    txn_id = text_field(txn, "txn_id")
    amount = txn.get("amount_fen")
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
        raise BadRequest("txn.amount_fen must be an integer")
    if conn.execute(_EXISTS, {"txn_id": txn_id}).first() is None:
        conn.execute(insert(property_backups).values(
            txn_id=txn_id, kiosk_id=message.kiosk_id, house_no=_opt(txn, "house_no", 16), amount_fen=amount,
            masked_pan=_opt(txn, "masked_pan", 19), result=_opt(txn, "result", 24),
            reference=_opt(txn, "reference", 12), auth_code=_opt(txn, "auth_code", 6),
            at=_opt(txn, "at", 32), txn_json=json.dumps(txn, ensure_ascii=False, separators=(",", ":")),
            received_at=ctx.now))
    return {"stored": True}
