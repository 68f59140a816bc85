"""cards/seen (a kiosk was shown a card: its status, holder and pending
transactions, a sighting recorded) and cards/blacklist (changes since a version)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from host.api_spec import TXN_ID, Operation, array, describe, integer, nullable, obj, text
from host.bank.security import BadRequest, Context, Message
from host.cards import registry
from host.cards.fields import SERIAL, U32, WALLET, serial_field
from host.schema.cards import card_sightings, card_txns

_SIGHTING = insert(card_sightings)
_PENDING = select(card_txns.c.txn_id, card_txns.c.kind, card_txns.c.txn_type, card_txns.c.wallet,
                  card_txns.c.amount_fen, card_txns.c.counter, card_txns.c.kiosk_id) \
    .where(card_txns.c.serial == bindparam("serial"), card_txns.c.state == "authorised") \
    .order_by(card_txns.c.id)


SEEN = Operation(
    "A kiosk was shown a card: its status, holder and transactions awaiting confirm or cancel",
    request=obj({"serial": SERIAL}),
    reply=obj({"serial": SERIAL, "status": text(16), "holder": nullable({"type": "string"}),
               "pending": array(obj({"txn_id": TXN_ID, "kind": text(16), "txn_type": nullable(integer()),
                                     "wallet": nullable(WALLET), "amount_fen": nullable(U32),
                                     "counter": nullable(integer()), "kiosk_id": text(32)}), 2 ** 31)}))
BLACKLIST = Operation(
    "The blacklist's changes since a version (each card once, its latest state)",
    request=obj({}, {"since": integer()}),
    reply=obj({"version": integer(), "changes": array(obj({"serial": SERIAL, "listed": {"type": "boolean"}}),
                                                      2 ** 31)}))


@describe(SEEN)
def handle_seen(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    serial = serial_field(message.body)
    card = registry.card(conn, serial)
    status = card.status if card is not None else "unknown"
    conn.execute(_SIGHTING, {"serial": serial, "kiosk_id": message.kiosk_id, "at": ctx.now, "status": status})
    pending = [dict(row._mapping) for row in conn.execute(_PENDING, {"serial": serial})]
    return {"serial": serial, "status": status, "holder": card.holder if card is not None else None,
            "pending": pending}


@describe(BLACKLIST)
def handle_blacklist(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    since = message.body.get("since", 0)
    if not isinstance(since, int) or isinstance(since, bool) or not 0 <= since < 2 ** 63:
        raise BadRequest("since must be a blacklist version, an integer >= 0")
    # versions are Integer columns (32 bits on PostgreSQL, which refuses a larger
    # operand: it was a 500); none lies above 2**31 - 1, so the answer is the same
    return registry.blacklist_since(conn, min(since, 2 ** 31 - 1))
