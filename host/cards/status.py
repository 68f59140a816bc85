"""cards/status: what became of a kiosk's own wallet transactions (docs/cards.md §5).

A kiosk that left a transaction pending (the card was not returned, or it
restarted mid-write) asks here once another kiosk, or staff, may have settled
it, so that it can send its backup copy with the final result. Only the
caller's own: another kiosk's txn_id answers not_found, as does one that was
never authorised (declined, or a cancel's tombstone), like cards/<kind>/cancel:
no kiosk learns of another's transactions."""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from host.api_spec import Operation, array, describe, enum, nullable, obj, text
from host.bank.security import BadRequest, Context, Message
from host.schema.cards import card_txns

MAX_IDS = 50          # one signed message stays small; a kiosk asks in batches
_ID_LEN = 64          # card_txns.txn_id

_OWN = select(card_txns.c.txn_id, card_txns.c.kind, card_txns.c.state, card_txns.c.reference) \
    .where(card_txns.c.txn_id.in_(bindparam("ids", expanding=True)), card_txns.c.kiosk_id == bindparam("kiosk"),
           card_txns.c.reply_json.is_not(None), card_txns.c.state.in_(("authorised", "completed", "cancelled")))


def txn_ids_field(body: dict[str, Any]) -> list[str]:
    """The ids asked about, once each, in the order asked."""
    value = body.get("txn_ids")
    if not isinstance(value, list):
        raise BadRequest("txn_ids must be a list of transaction ids")
    if len(value) > MAX_IDS:
        raise BadRequest(f"txn_ids holds at most {MAX_IDS} ids; ask in batches")
    if not all(isinstance(t, str) and 0 < len(t) <= _ID_LEN for t in value):
        raise BadRequest(f"each of txn_ids must be a non-empty string of at most {_ID_LEN} characters")
    return list(dict.fromkeys(value))


STATUS = Operation(
    "What became of the kiosk's own wallet transactions (another kiosk's answer not_found)",
    request=obj({"txn_ids": array(text(_ID_LEN), MAX_IDS)}),
    reply=obj({"txns": array(obj({"txn_id": text(_ID_LEN), "kind": nullable(text(16)),
                                  "status": enum("authorised", "completed", "cancelled", "not_found"),
                                  "reference": nullable(text(12))}), MAX_IDS)}))


@describe(STATUS)
def handle_status(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    ids = txn_ids_field(message.body)
    found = {row.txn_id: row for row in conn.execute(_OWN, {"ids": ids, "kiosk": message.kiosk_id})} if ids else {}
    return {"txns": [
        {"txn_id": t, "kind": found[t].kind, "status": found[t].state, "reference": found[t].reference}
        if t in found else {"txn_id": t, "kind": None, "status": "not_found", "reference": None}
        for t in ids]}
