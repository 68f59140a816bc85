"""What the load, unload and purchase messages share: the card's own keys and
status, the transaction row and its idempotency, confirm and cancel, and the
mirrored balances."""
from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, Row

from host.bank.card_guard import refuse_pan
from host.bank.security import BadRequest, Context, Message, encode, text_field
from host.cards.fields import CardRequest, reason_field
from host.db import inserted_id
from host.schema.cards import card_txns, ic_cards
from common.epurse_issuer import PurseKeys
from common.epurse import TxnType, Wallet

log = logging.getLogger("host.cards")

# The purse and passbook maximums cards are personalised with (docs/cards.md §2).
WALLET_MAX_FEN = {Wallet.EP: 100_000, Wallet.ED: 5_000_000}

_TXN = select(card_txns).where(card_txns.c.txn_id == bindparam("txn_id")).with_for_update()
_NEW = insert(card_txns)
_FINISH = update(card_txns).where(card_txns.c.id == bindparam("t_id")) \
    .values(reference=bindparam("ref"), reply_json=bindparam("reply"))
_RESOLVE = update(card_txns).where(card_txns.c.id == bindparam("t_id")) \
    .values(state=bindparam("state"), proof=bindparam("proof"), code=bindparam("code"),
            resolved_at=bindparam("at"), resolved_by=bindparam("by"))
_MIRROR = {
    wallet: update(ic_cards).where(ic_cards.c.serial == bindparam("s_serial"))
    .values(**{column: ic_cards.c[column] + bindparam("delta")}, updated_at=bindparam("at"))
    for wallet, column in ((Wallet.ED, "ed_fen"), (Wallet.EP, "ep_fen"))}

_COLUMNS = tuple(c.name for c in card_txns.columns if c.name != "id")


@lru_cache(maxsize=1024)
def _diversified(issuer: PurseKeys, serial: str) -> PurseKeys:
    return issuer.for_card(bytes.fromhex(serial))   # 8 3DES operations: memoised per card


def card_keys(ctx: Context, serial: str) -> PurseKeys:
    """The card's own keys, diversified from the issuer keys of the host config."""
    issuer = ctx.settings.issuer_keys
    if issuer is None:     # the routes answer 503 before this; a guard for direct callers
        raise BadRequest("this host runs no card centre")
    return _diversified(issuer, serial)


def same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def card_decline(card: Row[Any] | None) -> str | None:
    """unknown_ic_card, card_lost, card_blacklisted, or None for an active card."""
    if card is None:
        return "unknown_ic_card"
    if card.status == "lost":
        return "card_lost"
    if card.status != "active":
        return "card_blacklisted"
    return None


def mirrored(card: Row[Any], wallet: Wallet) -> int:
    return int(card.ed_fen if wallet is Wallet.ED else card.ep_fen)


def move_mirror(conn: Connection, serial: str, wallet: Wallet, delta_fen: int, ctx: Context) -> None:
    conn.execute(_MIRROR[wallet], {"s_serial": serial, "delta": delta_fen, "at": ctx.now})


def declined(txn_id: str, code: str, tries_left: int | None = None) -> dict[str, Any]:
    return {"txn_id": txn_id, "result": "declined", "code": code, "tries_left": tries_left}


def reference_for(day: date, txn_pk: int) -> str:
    """W + YYMMDD + 5 digits: 12 characters like a bank reference, never equal to one
    (bank references are all digits), so a bill's paid_ref says who paid it."""
    return f"W{day:%y%m%d}{txn_pk % 100_000:05d}"


# --- authorise --------------------------------------------------------------------
def earlier_answer(conn: Connection, txn_id: str, kind: str, kiosk_id: str) -> bytes | dict[str, Any] | None:
    """The answer to a txn_id seen before (None if new): the first reply byte for
    byte, or declined `cancelled` once a cancel arrived. Another kiosk's txn_id,
    or one of another kind, is refused."""
    txn = conn.execute(_TXN, {"txn_id": txn_id}).first()
    if txn is None:
        return None
    if txn.kiosk_id != kiosk_id:
        raise BadRequest("this txn_id belongs to another kiosk")
    if txn.kind != kind:
        raise BadRequest(f"this txn_id is a {txn.kind}, not a {kind}")
    if txn.state == "cancelled":
        return declined(txn_id, "cancelled")
    return txn.reply_json.encode("utf-8")


def new_row(req: CardRequest, message: Message, ctx: Context, *, kind: str, txn_type: TxnType,
            wallet: Wallet, **extra: Any) -> dict[str, Any]:
    row = dict.fromkeys(_COLUMNS)
    row.update(txn_id=req.txn_id, kiosk_id=message.kiosk_id, serial=req.serial, kind=kind,
               txn_type=int(txn_type), wallet=wallet.name, amount_fen=req.amount_fen,
               balance_fen=req.balance_fen, counter=req.counter, random=req.random.hex().upper(),
               term_id=req.term_id.hex().upper(), when=req.when, business_day=ctx.business_day,
               created_at=ctx.now, **extra)
    return row


def record(conn: Connection, row: dict[str, Any], reply: dict[str, Any]) -> bytes:
    """Insert the transaction and store its answer; the answer's bytes. An
    approved (authorised) one gets its reference, also in the reply if it has
    a `reference` field."""
    txn_pk = inserted_id(conn.execute(_NEW, row))
    reference = None
    if row["state"] == "authorised":
        reference = reference_for(row["business_day"], txn_pk)
        if "reference" in reply:
            reply["reference"] = reference
    body = encode(reply)
    conn.execute(_FINISH, {"t_id": txn_pk, "ref": reference, "reply": body.decode("utf-8")})
    return body


def record_decline(conn: Connection, row: dict[str, Any], code: str, tries_left: int | None = None) -> bytes:
    row.update(state="declined", code=code)
    return record(conn, row, declined(row["txn_id"], code, tries_left))


# --- confirm ----------------------------------------------------------------------
def to_confirm(conn: Connection, txn_id: str, kind: str, proof: str,
               completed: Callable[[Row[Any]], dict[str, Any]]) -> tuple[Row[Any], dict[str, Any] | None]:
    """The authorised transaction to confirm, or (for a repeat of the confirm
    that completed it) its answer again. Any kiosk may confirm: the card's
    proof, not the kiosk, vouches for it."""
    txn = conn.execute(_TXN, {"txn_id": txn_id}).first()
    if txn is None or txn.reply_json is None:
        raise BadRequest(f"no authorised {kind} {txn_id}")
    if txn.kind != kind:
        raise BadRequest(f"this txn_id is a {txn.kind}, not a {kind}")
    if txn.state == "completed":
        if txn.proof != proof:
            raise BadRequest("already completed with another proof")
        return txn, completed(txn)
    if txn.state != "authorised":
        if txn.state == "cancelled":   # the card may hold money the host gave back: staff must look
            log.warning("confirm of cancelled %s %s (card %s) refused", kind, txn_id, txn.serial)
        raise BadRequest(f"the {kind} is {txn.state}, it cannot be confirmed")
    return txn, None


def refuse_proof(txn: Row[Any], what: str, kiosk_id: str) -> BadRequest:
    """A proof that does not verify: refused, and the transaction stays
    authorised (pending for staff and for any kiosk that sees the card)."""
    log.warning("%s of %s %s (card %s, from %s) does not verify; left pending",
                what, txn.kind, txn.txn_id, txn.serial, kiosk_id)
    return BadRequest(f"the {what} does not verify; the {txn.kind} stays pending")


def complete(conn: Connection, txn: Row[Any], proof: str, message: Message, ctx: Context) -> None:
    conn.execute(_RESOLVE, {"t_id": txn.id, "state": "completed", "proof": proof, "code": None,
                            "at": ctx.now, "by": message.kiosk_id})


# --- cancel -----------------------------------------------------------------------
def cancel(conn: Connection, message: Message, ctx: Context, kind: str,
           give_back: Callable[[Row[Any], str | None], None] | None = None) -> dict[str, Any]:
    """cancelled (an authorised transaction: `give_back` undoes what it moved),
    already_cancelled, or not_found (never seen, or declined: nothing to undo);
    a txn_id never seen leaves a tombstone, so a late authorise is declined
    `cancelled`. A completed transaction cannot be cancelled (400). Any kiosk
    may cancel what a card's transaction proof showed was never applied."""
    txn_id = text_field(message.body, "txn_id")
    refuse_pan([txn_id], what="the cancel's txn_id")   # the reason is withheld, never refused (reason_field)
    reason = reason_field(message.body)
    txn = conn.execute(_TXN, {"txn_id": txn_id}).first()
    if txn is None:
        row = dict.fromkeys(_COLUMNS)
        row.update(txn_id=txn_id, kiosk_id=message.kiosk_id, kind=kind, state="cancelled", code=reason,
                   business_day=ctx.business_day, created_at=ctx.now, resolved_at=ctx.now,
                   resolved_by=message.kiosk_id)
        conn.execute(_NEW, row)
        return {"txn_id": txn_id, "status": "not_found"}
    if txn.kind != kind:
        raise BadRequest(f"this txn_id is a {txn.kind}, not a {kind}")
    if txn.reply_json is None or txn.state == "declined":
        return {"txn_id": txn_id, "status": "not_found"}
    if txn.state == "cancelled":
        return {"txn_id": txn_id, "status": "already_cancelled"}
    if txn.state == "completed":
        raise BadRequest(f"the {kind} is completed; it cannot be cancelled")
    if give_back is not None:
        give_back(txn, reason)
    conn.execute(_RESOLVE, {"t_id": txn.id, "state": "cancelled", "proof": None, "code": reason,
                            "at": ctx.now, "by": message.kiosk_id})
    return {"txn_id": txn_id, "status": "cancelled"}
