"""One leg's card, whichever kind it is: a CPU e-purse (the card centre's keys,
TAC and MACs, mirror in `ic_cards`) or a one-card (its registry and mirror,
which stay the authority: a one-card leg is also an `onecard_txns` row, so the
one-card's presentation finishes a torn leg like any other operation)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from host.bank.security import BadRequest, Context
from host.cards import registry as cpu_registry
from host.cards.txns import WALLET_MAX_FEN, card_decline, mirrored
from host.onecard import registry as onecard_registry
from host.schema.onecard import onecard_txns
from common.epurse import Wallet
from common.onecard import COUNT_MODULO, MAX_AMOUNT, TxnType as OneCardType

CPU, ONECARD = "cpu", "onecard"
_CARD = {CPU: re.compile(r"^[0-9A-Fa-f]{20}$"), ONECARD: re.compile(r"^[0-9A-Fa-f]{8}$")}
_OC_TXN = select(onecard_txns).where(onecard_txns.c.txn_id == bindparam("txn_id")).with_for_update()
_OC_PENDING = select(onecard_txns.c.id).where(onecard_txns.c.uid == bindparam("uid"),
                                              onecard_txns.c.state == "authorised")
_OC_RESOLVE = update(onecard_txns).where(onecard_txns.c.txn_id == bindparam("t_id")) \
    .values(state=bindparam("state"), code=bindparam("code"), resolved_at=bindparam("at"),
            resolved_by=bindparam("by"))
_OC_COLUMNS = tuple(c.name for c in onecard_txns.columns if c.name != "id")


@dataclass(frozen=True, slots=True)
class Card:
    kind: str             # cpu | onecard
    card: str             # CPU serial (20 hex) or one-card UID (8 hex), upper case
    wallet: Wallet | None  # CPU only

    def same_as(self, other: Card) -> bool:
        return (self.kind, self.card) == (other.kind, other.card)


def card_fields(body: dict[str, Any], side: str) -> Card:
    """<side>_kind, <side>_card and (a CPU card) <side>_wallet."""
    kind = body.get(f"{side}_kind")
    if kind not in (CPU, ONECARD):
        raise BadRequest(f"{side}_kind must be cpu or onecard")
    card = body.get(f"{side}_card")
    if not isinstance(card, str) or not _CARD[kind].match(card):
        raise BadRequest(f"{side}_card must be a CPU card's serial (20 hex) or a one-card's UID (8 hex)")
    wallet = None
    if kind == CPU:
        value = body.get(f"{side}_wallet")
        if value not in ("ED", "EP"):
            raise BadRequest(f"{side}_wallet must be ED or EP")
        wallet = Wallet[value]
    return Card(kind, card.upper(), wallet)


def refusal(conn: Connection, card: Card, ctx: Context, *, credit: bool, amount: int) -> str | None:
    """Why this card cannot take part (its status, its wallet's limit), or None.
    A source one-card's figures against the mirror are checked by the caller."""
    if card.kind == CPU:
        row = cpu_registry.card(conn, card.card)
        code = card_decline(row)
        if code is None and credit:
            assert card.wallet is not None
            if mirrored(row, card.wallet) + amount > WALLET_MAX_FEN[card.wallet]:
                return "wallet_limit"
        return code
    one = onecard_registry.card(conn, card.card)
    if one is None:
        return "unknown_onecard"
    if one.status != "active":
        return "card_lost" if one.status == "lost" else "card_returned"
    if one.expiry < ctx.business_day:
        return "card_expired"
    if one.black:
        return "card_blacklisted"
    if conn.execute(_OC_PENDING, {"uid": card.card}).first() is not None:
        return "onecard_pending"
    if credit and one.balance_fen + amount > MAX_AMOUNT:
        return "wallet_limit"
    return None


def onecard_mirror(conn: Connection, uid: str) -> tuple[int, int]:
    one = onecard_registry.card(conn, uid)
    return int(one.balance_fen), int(one.txn_count)


def onecard_leg(conn: Connection, *, leg_txn_id: str, kiosk_id: str, uid: str, credit: bool, amount: int,
                balance: int, count: int, ctx: Context) -> tuple[int, int]:
    """The one-card's own record of a leg (pending until its figures prove it);
    the figures it leaves."""
    after = balance + amount if credit else balance - amount
    row = dict.fromkeys(_OC_COLUMNS)
    row.update(txn_id=leg_txn_id, kiosk_id=kiosk_id, uid=uid, kind="xfer_in" if credit else "xfer_out",
               txn_type=int(OneCardType.TRANSFER_IN if credit else OneCardType.TRANSFER_OUT), amount_fen=amount,
               balance_before=balance, count_before=count, balance_after=after,
               count_after=(count + 1) % COUNT_MODULO, state="authorised", business_day=ctx.business_day,
               created_at=ctx.now, reply_json="{}")
    conn.execute(insert(onecard_txns), row)
    return after, (count + 1) % COUNT_MODULO


def onecard_leg_state(conn: Connection, leg_txn_id: str) -> Any:
    return conn.execute(_OC_TXN, {"txn_id": leg_txn_id}).first()


def resolve_onecard_leg(conn: Connection, leg_txn_id: str, state: str, at: datetime, by: str,
                        code: str | None = None) -> None:
    """completed (and the mirror moved to the leg's figures) or cancelled."""
    txn = onecard_leg_state(conn, leg_txn_id)
    if txn is None or txn.state != "authorised":
        return
    conn.execute(_OC_RESOLVE, {"t_id": leg_txn_id, "state": state, "code": code, "at": at, "by": by})
    if state == "completed":
        onecard_registry.set_mirror(conn, txn.uid, txn.balance_after, txn.count_after, at)
