"""The transfer and its legs in the database: read (locked), record, resolve,
and catching up with a one-card leg that the one-card's own presentation
finished (onecard/confirm or cancel at any kiosk)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from host.bank.security import Context, encode
from host.db import inserted_id
from host.schema.transfers import transfer_legs, transfers
from host.transfers.cards import ONECARD, onecard_leg_state

_TRANSFER = select(transfers).where(transfers.c.txn_id == bindparam("txn_id")).with_for_update()
_LEGS = select(transfer_legs).where(transfer_legs.c.transfer_id == bindparam("t_id")) \
    .order_by(transfer_legs.c.id).with_for_update()
_SET = update(transfers).where(transfers.c.id == bindparam("t_id"))
_SET_LEG = update(transfer_legs).where(transfer_legs.c.id == bindparam("l_id"))
_COLUMNS = tuple(c.name for c in transfers.columns if c.name != "id")
_LEG_COLUMNS = tuple(c.name for c in transfer_legs.columns if c.name != "id")
# what left a card today (the per-card daily limit): every transfer not declined or cancelled
_OUT_TODAY = select(func.coalesce(func.sum(transfers.c.amount_fen), 0)).where(
    transfers.c.src_card == bindparam("card"), transfers.c.business_day == bindparam("day"),
    transfers.c.state.in_(("authorised", "debited", "completed")))

DEBIT, CREDIT = "debit", "credit"


def transfer(conn: Connection, txn_id: str) -> Any:
    return conn.execute(_TRANSFER, {"txn_id": txn_id}).first()


def legs(conn: Connection, transfer_pk: int) -> list[Any]:
    return list(conn.execute(_LEGS, {"t_id": transfer_pk}))


def debit_leg(conn: Connection, transfer_pk: int) -> Any:
    return next((leg for leg in legs(conn, transfer_pk) if leg.leg == DEBIT), None)


def credit_leg(conn: Connection, transfer_pk: int) -> Any:
    """The latest credit attempt, or None."""
    found = [leg for leg in legs(conn, transfer_pk) if leg.leg == CREDIT]
    return found[-1] if found else None


def out_today(conn: Connection, card: str, ctx: Context) -> int:
    return int(conn.execute(_OUT_TODAY, {"card": card, "day": ctx.business_day}).scalar() or 0)


def new_transfer(conn: Connection, row: dict[str, Any], reply: dict[str, Any]) -> int:
    """Insert the transfer and store its answer (an approved one gets its reference)."""
    full = dict.fromkeys(_COLUMNS)
    full.update(row)
    pk = inserted_id(conn.execute(insert(transfers), full))
    reference = None
    if full["state"] == "authorised":
        reference = reply["reference"] = f"T{full['business_day']:%y%m%d}{pk % 100_000:05d}"
    conn.execute(_SET, {"t_id": pk, "reference": reference, "reply_json": encode(reply).decode("utf-8")})
    return pk


def set_transfer(conn: Connection, pk: int, **values: Any) -> None:
    conn.execute(_SET.values(**values), {"t_id": pk})


def new_leg(conn: Connection, **values: Any) -> None:
    row = dict.fromkeys(_LEG_COLUMNS)
    row.update(values)
    conn.execute(insert(transfer_legs), row)


def set_leg(conn: Connection, pk: int, **values: Any) -> None:
    conn.execute(_SET_LEG.values(**values), {"l_id": pk})


def catch_up(conn: Connection, txn: Any, ctx: Context) -> Any:
    """A one-card leg finished by the one-card's presentation (onecard/confirm
    or cancel, any kiosk): the transfer follows it. The row as it now stands."""
    if txn.state not in ("authorised", "debited"):
        return txn
    leg = debit_leg(conn, txn.id) if txn.state == "authorised" else credit_leg(conn, txn.id)
    if leg is None or leg.card_kind != ONECARD or leg.state != "authorised":
        return txn
    one = onecard_leg_state(conn, leg.leg_txn_id)
    if one is None or one.state == "authorised":
        return txn
    set_leg(conn, leg.id, state=one.state, proof=f"{one.balance_after}/{one.count_after}"
            if one.state == "completed" else None, resolved_at=ctx.now)
    if leg.leg == DEBIT:
        if one.state == "completed":
            set_transfer(conn, txn.id, state="debited", debited_at=ctx.now)
        else:
            set_transfer(conn, txn.id, state="cancelled", code=one.code, resolved_by=one.resolved_by)
    elif one.state == "completed":
        set_transfer(conn, txn.id, state="completed", completed_at=ctx.now, resolved_by=one.resolved_by)
    return transfer(conn, txn.txn_id)


_IN_FLIGHT = select(func.coalesce(func.sum(transfers.c.amount_fen), 0)).where(transfers.c.state == "debited")


def in_flight_fen(conn: Connection) -> int:
    """Money a source has paid that no destination holds yet: the credits owed."""
    return int(conn.execute(_IN_FLIGHT).scalar() or 0)
