"""transfers/owed: what a presented card has outstanding, for any kiosk to
settle: a debit in doubt (the card is a source whose debit was neither proven
nor cancelled: its proof decides) and a credit owed (the card is the
destination of a transfer whose source paid: the credit is made now)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.engine import Connection

from host.api_spec import TXN_ID, Operation, array, describe, enum, integer, nullable, obj, text
from host.bank.security import Context, Message
from host.schema.transfers import transfers
from host.transfers import store
from host.transfers.cards import card_fields

_OPEN = select(transfers.c.txn_id).where(
    or_((transfers.c.src_card == bindparam("card")) & (transfers.c.state == "authorised"),
        (transfers.c.dst_card == bindparam("card")) & transfers.c.state.in_(("authorised", "debited")))).order_by(transfers.c.id)
_LEG = obj({"leg_txn_id": TXN_ID, "state": enum("authorised", "completed", "cancelled"),
            "balance_before": integer(), "counter": integer(0, 0xFFFF), "txn_type": integer(0, 255)})
OWED = Operation(
    "What a presented card has outstanding: debits in doubt (its proof decides) and credits owed to it",
    request=obj({"card_kind": enum("cpu", "onecard"), "card": text(20, min_len=8)}, {"wallet": enum("ED", "EP")}),
    reply=obj({"owed": array(obj({"txn_id": TXN_ID, "role": enum("debit", "credit"), "amount_fen": integer(1),
                                  "dst_wallet": nullable(enum("ED", "EP")), "src_wallet": nullable(enum("ED", "EP")),
                                  "reference": text(12), "leg": nullable(_LEG)}), 50)}))


@describe(OWED)
def handle_owed(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    body = {"x_kind": message.body.get("card_kind"), "x_card": message.body.get("card"),
            "x_wallet": message.body.get("wallet", "EP")}
    card = card_fields(body, "x")
    found: list[dict[str, Any]] = []
    # a destination's transfer still `authorised` may have been debited by the one-card's own presentation
    for txn_id in conn.execute(_OPEN, {"card": card.card}).scalars().all()[:50]:
        txn = store.catch_up(conn, store.transfer(conn, txn_id), ctx)
        if txn.state == "authorised" and txn.src_card == card.card:
            role, leg = "debit", store.debit_leg(conn, txn.id)
        elif txn.state == "debited" and txn.dst_card == card.card:
            role, leg = "credit", store.credit_leg(conn, txn.id)
        else:
            continue
        found.append({"txn_id": txn.txn_id, "role": role, "amount_fen": txn.amount_fen,
                      "src_wallet": txn.src_wallet, "dst_wallet": txn.dst_wallet, "reference": txn.reference,
                      "leg": None if leg is None else {
                          "leg_txn_id": leg.leg_txn_id, "state": leg.state, "balance_before": leg.balance_before,
                          "counter": leg.counter, "txn_type": leg.txn_type}})
    return {"owed": found}
