"""onecard/keys (the read keys of one presentation) and onecard/present (the
card as the kiosk read it, checked against the registry and the mirror).

The rules (docs/onecard.md "Presentation"): the block 5 auth code (IK is
here) and block 4's serial; then the purse against the mirror: equal → ok;
equal to what the card's one pending operation leaves (or leaves it before)
→ ok, and the kiosk is told to confirm (or cancel) that operation; anything
else → refused ("please see the property office") and flagged for staff. A
card whose purse the kiosk's own checks refused is flagged the same way.
Then status, expiry and the black flag: a card refused for them still has its
pending operation finished (money in doubt is settled first)."""
from __future__ import annotations

import hmac
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from host.api_spec import Operation, describe, enum, integer, nullable, obj, text
from host.bank.security import BadRequest, Context, Message
from host.onecard import registry
from host.onecard.fields import (BALANCE, CARD_STATE, COUNT, FINISH, KEYS, UID, balance_field, block_field,
                                 card_text, count_field, deliver, masters, read_sectors, uid_field)
from host.schema.onecard import onecard_txns
from common.onecard import BLACK_OK, MalformedBlock
from common.onecard_blocks import CardStatus, Issuance
from common.onecard_keys import auth_code

_PENDING = select(onecard_txns).where(onecard_txns.c.uid == bindparam("uid"),
                                      onecard_txns.c.state == "authorised").order_by(onecard_txns.c.id)

KEYS_OP = Operation(
    "The read keys of one one-card presentation (key A of the sectors it reads), encrypted for this kiosk",
    request=obj({"uid": UID}),
    reply={"anyOf": [obj({"uid": UID, "result": enum("keys"), "keys": KEYS}),
                     obj({"uid": UID, "result": enum("declined"), "code": enum("unknown_onecard")})]})
PRESENT = Operation(
    "A one-card as the kiosk read it: the auth code, status, expiry and black flag checked, the purse "
    "compared with the mirror; a pending operation the card's figures prove is to be confirmed or cancelled",
    request=obj({**CARD_STATE, "block4": text(32, min_len=32), "block5": text(32, min_len=32),
                 "black": integer(0, 255)}, {"purse_refused": nullable(text(200, min_len=0))}),
    reply=obj({"uid": UID, "result": enum("ok", "refused"), "code": nullable(text(32)),
               "balance_fen": BALANCE, "count": COUNT, "holder": nullable(text(100)),
               "house_no": nullable(text(16)), "finish": FINISH}))


@describe(KEYS_OP)
def handle_keys(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    uid = uid_field(message.body)
    if registry.card(conn, uid) is None:
        return {"uid": uid, "result": "declined", "code": "unknown_onecard"}
    return {"uid": uid, "result": "keys", "keys": deliver(ctx, uid, read_sectors())}


@describe(PRESENT)
def handle_present(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    body = message.body
    uid = uid_field(body)
    block4, block5 = block_field(body, "block4"), block_field(body, "block5")
    balance, count = balance_field(body), count_field(body)
    black = body.get("black")
    if not isinstance(black, int) or isinstance(black, bool) or not 0 <= black <= 255:
        raise BadRequest("black must be the card's black flag byte")
    purse_refused = body.get("purse_refused")
    if purse_refused is not None and not isinstance(purse_refused, str):
        raise BadRequest("purse_refused must be the kiosk's reason or null")
    card = registry.card(conn, uid)
    if card is None:
        return _answer(uid, "refused", "unknown_onecard", None)

    def refuse(code: str, detail: str) -> dict[str, Any]:
        registry.flag(conn, uid, message.kiosk_id, ctx.now, code, detail)
        return _answer(uid, "refused", code, card)

    if not hmac.compare_digest(auth_code(masters(ctx), bytes.fromhex(uid), block4), block5[:4]) \
            or any(block5[4:]):
        return refuse("auth_code", "block 5 is not the auth code of this UID and block 4")
    try:
        issuance = Issuance.decode(block4)
    except MalformedBlock as exc:
        return refuse("issuance", str(exc))
    if issuance.serial != card.serial:
        return refuse("issuance", f"card serial {issuance.serial}, registered {card.serial}")
    if purse_refused is not None:
        return refuse("purse_refused", purse_refused or "the kiosk refused the purse")

    finish = None
    if (balance, count) != (card.balance_fen, card.txn_count):
        pending = conn.execute(_PENDING, {"uid": uid}).first()
        if pending is None or (balance, count) != (pending.balance_after, pending.count_after):
            expected = card_text(card.balance_fen, card.txn_count)
            if pending is not None:
                expected += f" (or {card_text(pending.balance_after, pending.count_after)} once "\
                            f"{pending.kind} {pending.txn_id} applies)"
            return refuse("mirror_mismatch", f"card {card_text(balance, count)}, mirror {expected}")
        finish = {"txn_id": pending.txn_id, "kind": pending.kind, "action": "confirm",
                  "amount_fen": pending.amount_fen}
    else:
        pending = conn.execute(_PENDING, {"uid": uid}).first()
        if pending is not None:   # the card never applied it: it holds the figures from before
            finish = {"txn_id": pending.txn_id, "kind": pending.kind, "action": "cancel",
                      "amount_fen": pending.amount_fen}

    code = _status_code(card, issuance, black, ctx)
    return _answer(uid, "ok" if code is None else "refused", code, card, finish)


def _status_code(card: Any, issuance: Issuance, black: int, ctx: Context) -> str | None:
    """lost / returned (the registry's or the card's status), expired, blacklisted; None: usable."""
    if card.status != "active":
        return str(card.status)
    if issuance.status is not CardStatus.ACTIVE:
        return issuance.status.name.lower()
    if min(card.expiry, issuance.expiry) < ctx.business_day:
        return "expired"
    if card.black or black != BLACK_OK:
        return "blacklisted"
    return None


def _answer(uid: str, result: str, code: str | None, card: Any,
            finish: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"uid": uid, "result": result, "code": code,
            "balance_fen": card.balance_fen if card is not None else 0,
            "count": card.txn_count if card is not None else 0,
            "holder": card.holder if card is not None else None,
            "house_no": card.house_no if card is not None else None, "finish": finish}
