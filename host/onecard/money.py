"""The one-card's money: authorise (between steps 2 and 3: the card against the
mirror, then the money leg's own checks; a pending operation recorded and the
session's sector keys sent encrypted), confirm (after step 7 or a recovery:
the card's new count and balance move the mirror), cancel (the card never
applied it: a load's bank debit is given back).

Money, as the CPU wallet does it (docs/cards.md §5): a load debits the bank at
authorise (the amount is "in flight") and reaches the mirror at confirm, or
goes back to the bank at cancel; a bill payment moves nothing until confirm,
when the mirror goes down, the bills are paid and the property ledger gets
its entry. While a bill payment is pending the household's bill is reserved."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from host.api_spec import (DECLINED, HOUSE_NO, PERIODS, REASON, TXN_ID, Operation, describe, enum, integer, obj,
                           text)
from host.bank.card_guard import refuse_pan, withheld
from host.bank.journal import write_line
from host.bank.payments import (BANK_CARD, PIN_BLOCK, authorise_debit, bank_card_fields, bill_decline,
                                credit_account, house_field, periods_field)
from host.bank.security import BadRequest, Context, Message, encode, text_field
from host.billing import pay_bills
from host.db import inserted_id
from host.onecard import registry
from host.onecard.fields import (BALANCE, CARD_STATE, COUNT, KEYS, amount_field, balance_field, count_field,
                                 deliver, operation_sectors, uid_field)
from host.onecard.registry import LEDGER_KIND, ONECARD_LOAD, ONECARD_LOAD_REVERSAL
from host.schema.bank import property_ledger
from host.schema.onecard import onecard_txns
from common.onecard import COUNT_MODULO, MAX_AMOUNT, TxnType


_TXN = select(onecard_txns).where(onecard_txns.c.txn_id == bindparam("txn_id")).with_for_update()
_PENDING = select(onecard_txns.c.id).where(onecard_txns.c.uid == bindparam("uid"),
                                           onecard_txns.c.state == "authorised")
_BILL_PENDING = select(onecard_txns.c.id).where(onecard_txns.c.household_id == bindparam("hid"),
                                                onecard_txns.c.kind == "bill",
                                                onecard_txns.c.state == "authorised")
_NEW = insert(onecard_txns)
_FINISH = update(onecard_txns).where(onecard_txns.c.id == bindparam("t_id")) \
    .values(reference=bindparam("ref"), reply_json=bindparam("reply"))
_RESOLVE = update(onecard_txns).where(onecard_txns.c.id == bindparam("t_id")) \
    .values(state=bindparam("state"), code=bindparam("code"), resolved_at=bindparam("at"),
            resolved_by=bindparam("by"))
_COLUMNS = tuple(c.name for c in onecard_txns.columns if c.name != "id")
_TYPE = {"load": TxnType.LOAD, "bill": TxnType.BILL_PAYMENT}


AUTHORISE = Operation(
    "Authorise a one-card load from a bank card (the bank debited) or a bill payment from the one-card "
    "(the bill reserved): the card checked against the mirror; the session's sector keys, encrypted",
    request=obj({"txn_id": TXN_ID, **CARD_STATE, "kind": enum("load", "bill"), "amount_fen": integer(1, MAX_AMOUNT)},
                {**BANK_CARD, **PIN_BLOCK, "house_no": HOUSE_NO, "periods": PERIODS}),
    reply={"anyOf": [obj({"txn_id": TXN_ID, "result": enum("approved"), "reference": text(12), "keys": KEYS,
                          "balance_after": BALANCE, "count_after": COUNT}), DECLINED]}, statuses=(503,))
CONFIRM = Operation(
    "Confirm a one-card operation with the card's new balance and count (after step 7 or a recovery): "
    "the mirror moves; a bill payment pays the bills. Idempotent; any kiosk",
    request=obj({"txn_id": TXN_ID, **CARD_STATE}),
    reply=obj({"txn_id": TXN_ID, "status": enum("completed"), "reference": text(12)}))
CANCEL = Operation(
    "Cancel a one-card operation the card did not apply (a load's bank debit is given back); any kiosk",
    request=obj({"txn_id": TXN_ID}, {"reason": REASON}),
    reply=obj({"txn_id": TXN_ID, "status": enum("cancelled", "already_cancelled", "not_found")}))


def _declined(txn_id: str, code: str, tries_left: int | None = None) -> dict[str, Any]:
    return {"txn_id": txn_id, "result": "declined", "code": code, "tries_left": tries_left}


def _record(conn: Connection, row: dict[str, Any], reply: dict[str, Any]) -> int:
    txn_pk = inserted_id(conn.execute(_NEW, row))
    reference = None
    if row["state"] == "authorised":
        reference = reply["reference"] = f"M{row['business_day']:%y%m%d}{txn_pk % 100_000:05d}"
    conn.execute(_FINISH, {"t_id": txn_pk, "ref": reference, "reply": encode(reply).decode("utf-8")})
    return txn_pk


@describe(AUTHORISE)
def handle_authorise(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    body = message.body
    txn_id = text_field(body, "txn_id")
    refuse_pan([txn_id], what="txn_id")
    uid, balance, count, amount = uid_field(body), balance_field(body), count_field(body), amount_field(body)
    kind = body.get("kind")
    if not isinstance(kind, str) or kind not in _TYPE:
        raise BadRequest("kind must be load or bill")
    bank = bank_card_fields(body) if kind == "load" else None
    house_no, periods = (house_field(body), periods_field(body)) if kind == "bill" else ("", [])
    earlier = conn.execute(_TXN, {"txn_id": txn_id}).first()
    if earlier is not None:       # the same answer again; the keys anew (they are never stored)
        if earlier.kiosk_id != message.kiosk_id or earlier.uid != uid or earlier.kind != kind:
            raise BadRequest("this txn_id belongs to another operation")
        return _with_keys(json.loads(earlier.reply_json), earlier, ctx)
    credit = _TYPE[kind].is_credit
    after = balance + amount if credit else balance - amount
    row = dict.fromkeys(_COLUMNS)
    row.update(txn_id=txn_id, kiosk_id=message.kiosk_id, uid=uid, kind=kind, txn_type=int(_TYPE[kind]),
               amount_fen=amount, balance_before=balance, count_before=count, balance_after=after,
               count_after=(count + 1) % COUNT_MODULO, state="declined", business_day=ctx.business_day,
               created_at=ctx.now)

    code, tries_left = _card_decline(conn, uid, balance, count, amount, credit, ctx), None
    if code is None and kind == "bill":
        code = _bill_decline(conn, row, uid, house_no, periods, ctx)
    if code is None and kind == "load":
        assert bank is not None
        decision = authorise_debit(conn, ctx, pan=bank["pan"], pin_block=bank["pin_block"], amount_fen=amount)
        row.update(account_id=decision.account.id if decision.account is not None else None,
                   masked_pan=decision.masked_pan)
        code, tries_left = decision.code, decision.tries_left
        write_line(conn, day=ctx.business_day, at=ctx.now, kiosk_id=message.kiosk_id, txn_id=txn_id,
                   type_=ONECARD_LOAD, result="approved" if code is None else "declined", code=code,
                   masked_pan=decision.masked_pan, amount_fen=amount, reference=None, auth_code=None)
    if code is not None:
        row["code"] = code
        reply = _declined(txn_id, code, tries_left)
        _record(conn, row, reply)
        return reply
    row["state"] = "authorised"
    reply = {"txn_id": txn_id, "result": "approved", "reference": "", "balance_after": after,
             "count_after": row["count_after"]}
    _record(conn, row, reply)
    return _with_keys(reply, row, ctx)


def _with_keys(reply: dict[str, Any], txn: Any, ctx: Context) -> dict[str, Any]:
    """An approval carries the session's keys for steps 3–7; stored without them."""
    if reply.get("result") != "approved":
        return reply
    kind, uid = (txn["kind"], txn["uid"]) if isinstance(txn, dict) else (txn.kind, txn.uid)
    return {**reply, "keys": deliver(ctx, uid, operation_sectors(_TYPE[kind].is_credit))}


def _card_decline(conn: Connection, uid: str, balance: int, count: int, amount: int, credit: bool,
                  ctx: Context) -> str | None:
    card = registry.card(conn, uid)
    if card is None:
        return "unknown_onecard"
    if card.status != "active":
        return "card_lost" if card.status == "lost" else "card_returned"
    if card.expiry < ctx.business_day:
        return "card_expired"
    if card.black:
        return "card_blacklisted"
    if (balance, count) != (card.balance_fen, card.txn_count):
        return "mirror_mismatch"           # present it again: the host rules on it there
    if conn.execute(_PENDING, {"uid": uid}).first() is not None:
        return "onecard_pending"
    if credit and balance + amount > MAX_AMOUNT:
        return "wallet_limit"
    if not credit and amount > balance:
        return "insufficient_funds"
    return None


def _bill_decline(conn: Connection, row: dict[str, Any], uid: str, house_no: str, periods: list[str],
                  ctx: Context) -> str | None:
    card = registry.card(conn, uid)
    if card.house_no != house_no or card.household_id is None:
        return "not_card_household"        # a one-card pays its own household's bill
    if conn.execute(_BILL_PENDING, {"hid": card.household_id}).first() is not None:
        return "payment_pending"
    code, dues = bill_decline(conn, card.household_id, row["amount_fen"], periods, ctx)
    if code is None:
        assert dues is not None
        row.update(household_id=card.household_id, periods=",".join(periods), late_fee_fen=dues.late_fee_fen)
    return code


@describe(CONFIRM)
def handle_confirm(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    body = message.body
    txn_id = text_field(body, "txn_id")
    uid, balance, count = uid_field(body), balance_field(body), count_field(body)
    txn = conn.execute(_TXN, {"txn_id": txn_id}).first()
    if txn is None or txn.uid != uid or txn.state in ("declined",):
        raise BadRequest(f"no authorised one-card operation {txn_id} on this card")
    if (balance, count) != (txn.balance_after, txn.count_after):
        raise BadRequest(f"the card holds {balance} fen after {count}, not what {txn_id} leaves; it stays "
                         "pending (present the card)")
    answer = {"txn_id": txn_id, "status": "completed", "reference": txn.reference}
    if txn.state == "completed":
        return answer
    if txn.state != "authorised":
        raise BadRequest(f"the operation is {txn.state}, it cannot be confirmed")
    conn.execute(_RESOLVE, {"t_id": txn.id, "state": "completed", "code": None, "at": ctx.now,
                            "by": message.kiosk_id})
    registry.set_mirror(conn, uid, txn.balance_after, txn.count_after, ctx.now)
    if txn.kind == "bill":
        periods = txn.periods.split(",")
        pay_bills(conn, txn.household_id, periods, reference=txn.reference, paid_at=ctx.now)
        conn.execute(insert(property_ledger), {
            "txn_id": txn.txn_id, "kind": LEDGER_KIND, "household_id": txn.household_id, "periods": txn.periods,
            "amount_fen": txn.amount_fen, "late_fee_fen": txn.late_fee_fen, "reference": txn.reference,
            "business_day": ctx.business_day, "at": ctx.now})
    return answer


@describe(CANCEL)
def handle_cancel(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    txn_id = text_field(message.body, "txn_id")
    refuse_pan([txn_id], what="the cancel's txn_id")
    reason = message.body.get("reason", "")
    if not isinstance(reason, str):
        raise BadRequest("reason must be a string")
    reason = withheld(reason)[:32] or None
    txn = conn.execute(_TXN, {"txn_id": txn_id}).first()
    if txn is None or txn.state == "declined":
        return {"txn_id": txn_id, "status": "not_found"}
    if txn.state == "cancelled":
        return {"txn_id": txn_id, "status": "already_cancelled"}
    if txn.state == "completed":
        raise BadRequest("the operation is completed; it cannot be cancelled")
    if txn.kind == "load":
        credit_account(conn, txn.account_id, txn.amount_fen)
        write_line(conn, day=ctx.business_day, at=ctx.now, kiosk_id=message.kiosk_id, txn_id=txn.txn_id,
                   type_=ONECARD_LOAD_REVERSAL, result="reversed", code=reason, masked_pan=txn.masked_pan,
                   amount_fen=txn.amount_fen, reference=txn.reference, auth_code=None)
    conn.execute(_RESOLVE, {"t_id": txn.id, "state": "cancelled", "code": reason, "at": ctx.now,
                            "by": message.kiosk_id})
    return {"txn_id": txn_id, "status": "cancelled"}
