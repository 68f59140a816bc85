"""The legs' results: transfers/debit (the source's proof: a CPU card's TAC and
MAC2, or a one-card's figures after the debit; the source's mirror moves and
the credit is owed), transfers/credit (an attempt at the destination: a CPU
card's load MAC1 checked and MAC2 given, or a one-card's keys with key B),
transfers/confirm (the destination's proof: TAC, or the figures; done),
transfers/cancel (a debit the source never applied: nothing moved; or a
credit attempt the destination never applied: the credit stays owed).

Never guessed: what a card did is what its proof says; a proof that does not
verify is refused (400) and the leg stays pending."""
from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from host.api_spec import REASON, TXN_ID, Operation, describe, enum, hex_bytes, integer, obj, text
from host.bank.card_guard import refuse_pan
from host.bank.security import BadRequest, Context, Message, int_field, text_field
from host.cards.fields import hex_field, reason_field, u32_field, when_field
from host.cards.txns import card_keys, move_mirror, same
from host.onecard.fields import KEYS, deliver, operation_sectors
from host.transfers import store
from host.transfers.cards import CPU, onecard_leg, onecard_mirror, resolve_onecard_leg
from common.epurse import TxnType, Wallet
from common.epurse_issuer import load_mac1, load_mac2, load_tac, online_session_key, purchase_mac2, purchase_sk, \
    purchase_tac
from common.onecard import COUNT_MODULO, MAX_AMOUNT

_FIGURES = {"balance_fen": integer(0, 2 ** 32 - 1), "card_counter": integer(0, 0xFFFF)}
_STATE = enum("authorised", "debited", "completed", "cancelled")
_ANSWER = obj({"txn_id": TXN_ID, "status": _STATE})
DEBIT = Operation("The source's proof of its debit (CPU: TAC and MAC2; one-card: its figures after): "
                  "the source's mirror moves, the credit is owed",
                  request=obj({"txn_id": TXN_ID}, {"tac": hex_bytes(4), "mac2": hex_bytes(4), **_FIGURES}),
                  reply=_ANSWER)
CREDIT = Operation(
    "An attempt at the destination's credit (CPU: its INITIALIZE FOR LOAD answer, MAC2 given; one-card: its "
    "figures equal to the mirror, the session's keys given)",
    request=obj({"txn_id": TXN_ID, **_FIGURES}, {"random": hex_bytes(4), "mac1": hex_bytes(4),
                                                  "term_id": hex_bytes(6),
                                                  "when": text(14, pattern="^[0-9]{14}$", min_len=14)}),
    reply={"anyOf": [obj({"txn_id": TXN_ID, "result": enum("approved"), "leg_txn_id": TXN_ID},
                         {"mac2": hex_bytes(4), "keys": KEYS, "balance_after": integer(0, MAX_AMOUNT),
                          "count_after": integer(0, COUNT_MODULO - 1)}),
                     obj({"txn_id": TXN_ID, "result": enum("declined"), "code": text(32)})]})
CONFIRM = Operation("The destination's proof of its credit (CPU: TAC; one-card: its figures after): done",
                    request=obj({"txn_id": TXN_ID}, {"tac": hex_bytes(4), **_FIGURES}), reply=_ANSWER)
CANCEL = Operation(
    "The source never applied the debit (the transfer is cancelled), or the destination never applied the "
    "credit attempt (the credit stays owed); a txn_id never seen leaves a tombstone",
    request=obj({"txn_id": TXN_ID}, {"reason": REASON}),
    reply=obj({"txn_id": TXN_ID, "status": enum("cancelled", "credit_owed", "already_cancelled", "not_found")}))


def _answer(txn: Any) -> dict[str, Any]:
    return {"txn_id": txn.txn_id, "status": txn.state}


def _found(conn: Connection, body: dict[str, Any], ctx: Context) -> Any:
    txn_id = text_field(body, "txn_id")
    txn = store.transfer(conn, txn_id)
    if txn is None or txn.reply_json is None or txn.state == "declined":
        raise BadRequest(f"no authorised transfer {txn_id}")
    return store.catch_up(conn, txn, ctx)


def _figures(body: dict[str, Any]) -> tuple[int, int]:
    return u32_field(body, "balance_fen"), int_field(body, "card_counter")


@describe(DEBIT)
def handle_debit(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    txn = _found(conn, message.body, ctx)
    leg = store.debit_leg(conn, txn.id)
    if txn.state in ("debited", "completed"):
        return _answer(txn)
    if txn.state != "authorised":
        raise BadRequest(f"the transfer is {txn.state}: its debit cannot be proven")
    if leg.card_kind == CPU:
        tac, mac2 = hex_field(message.body, "tac", 4), hex_field(message.body, "mac2", 4)
        keys = card_keys(ctx, leg.card)
        term_id, when, txn_type = bytes.fromhex(leg.term_id), bytes.fromhex(leg.when), TxnType(leg.txn_type)
        sk = purchase_sk(keys.dpk, bytes.fromhex(leg.random), leg.counter, leg.term_txn_no)
        if not same(purchase_tac(keys.dtk, leg.amount_fen, txn_type, term_id, leg.term_txn_no, when), tac) \
                or not same(purchase_mac2(sk, leg.amount_fen), mac2):
            raise BadRequest("the debit's TAC or MAC2 does not verify; the transfer stays pending")
        proof = (tac + mac2).hex().upper()
        move_mirror(conn, leg.card, Wallet[leg.wallet], -leg.amount_fen, ctx)
    else:
        figures = _figures(message.body)
        if figures != (leg.balance_before - leg.amount_fen, (leg.counter + 1) % COUNT_MODULO):
            raise BadRequest(f"the one-card holds {figures[0]} fen after {figures[1]}, not what the debit "
                             "leaves; it stays pending (present the card)")
        proof = f"{figures[0]}/{figures[1]}"
        resolve_onecard_leg(conn, leg.leg_txn_id, "completed", ctx.now, message.kiosk_id)
    store.set_leg(conn, leg.id, state="completed", proof=proof, resolved_at=ctx.now)
    store.set_transfer(conn, txn.id, state="debited", debited_at=ctx.now)
    return {"txn_id": txn.txn_id, "status": "debited"}


@describe(CREDIT)
def handle_credit(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    body = message.body
    txn = _found(conn, body, ctx)
    balance, counter = _figures(body)
    if txn.state != "debited":
        return {"txn_id": txn.txn_id, "result": "declined", "code": f"transfer_{txn.state}"}
    last = store.credit_leg(conn, txn.id)
    if last is not None and last.state == "authorised":
        if (last.balance_before, last.counter) != (balance, counter):
            # the card moved since that attempt: its proof first (confirm), never a guess
            return {"txn_id": txn.txn_id, "result": "declined", "code": "credit_pending"}
        # the card's figures are those from before the attempt (a CPU card's online counter
        # rises with every load): it never applied it, and a new attempt replaces it
        resolve_onecard_leg(conn, last.leg_txn_id, "cancelled", ctx.now, message.kiosk_id, "superseded")
        store.set_leg(conn, last.id, state="cancelled", resolved_at=ctx.now)
    attempt = 1 + len([leg for leg in store.legs(conn, txn.id) if leg.leg == store.CREDIT])
    leg_txn_id = f"{txn.txn_id}:C{attempt}"
    leg = {"transfer_id": txn.id, "leg": store.CREDIT, "leg_txn_id": leg_txn_id, "card_kind": txn.dst_kind,
           "card": txn.dst_card, "wallet": txn.dst_wallet, "amount_fen": txn.amount_fen, "balance_before": balance,
           "counter": counter, "state": "authorised", "created_at": ctx.now}
    reply: dict[str, Any] = {"txn_id": txn.txn_id, "result": "approved", "leg_txn_id": leg_txn_id}
    if txn.dst_kind == CPU:
        random, mac1 = hex_field(body, "random", 4), hex_field(body, "mac1", 4)
        term_id, when = hex_field(body, "term_id", 6), when_field(body)
        txn_type = TxnType.load(Wallet[txn.dst_wallet])
        sk = online_session_key(card_keys(ctx, txn.dst_card).dlk, random, counter)
        if not same(load_mac1(sk, balance, txn.amount_fen, txn_type, term_id), mac1):
            return {"txn_id": txn.txn_id, "result": "declined", "code": "mac1_invalid"}
        store.new_leg(conn, **leg, txn_type=int(txn_type), random=random.hex().upper(),
                      term_id=term_id.hex().upper(), when=when)
        return {**reply, "mac2": load_mac2(sk, txn.amount_fen, txn_type, term_id, bytes.fromhex(when)).hex().upper()}
    if (balance, counter) != onecard_mirror(conn, txn.dst_card):
        return {"txn_id": txn.txn_id, "result": "declined", "code": "mirror_mismatch"}
    after, count_after = onecard_leg(conn, leg_txn_id=leg_txn_id, kiosk_id=message.kiosk_id, uid=txn.dst_card,
                                     credit=True, amount=txn.amount_fen, balance=balance, count=counter, ctx=ctx)
    store.new_leg(conn, **leg, txn_type=0x07)
    return {**reply, "balance_after": after, "count_after": count_after,
            "keys": deliver(ctx, txn.dst_card, operation_sectors(True))}


@describe(CONFIRM)
def handle_confirm(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    txn = _found(conn, message.body, ctx)
    if txn.state == "completed":
        return _answer(txn)
    leg = store.credit_leg(conn, txn.id)
    if txn.state != "debited" or leg is None or leg.state != "authorised":
        raise BadRequest(f"the transfer is {txn.state} with no credit attempt pending: nothing to confirm")
    if leg.card_kind == CPU:
        tac = hex_field(message.body, "tac", 4)
        expected = load_tac(card_keys(ctx, leg.card).dtk, leg.balance_before + leg.amount_fen, leg.counter,
                            leg.amount_fen, TxnType(leg.txn_type), bytes.fromhex(leg.term_id),
                            bytes.fromhex(leg.when))
        if not same(expected, tac):
            raise BadRequest("the credit's TAC does not verify; the transfer stays pending")
        proof = tac.hex().upper()
        move_mirror(conn, leg.card, Wallet[leg.wallet], leg.amount_fen, ctx)
    else:
        figures = _figures(message.body)
        if figures != (leg.balance_before + leg.amount_fen, (leg.counter + 1) % COUNT_MODULO):
            raise BadRequest(f"the one-card holds {figures[0]} fen after {figures[1]}, not what the credit "
                             "leaves; it stays pending (present the card)")
        proof = f"{figures[0]}/{figures[1]}"
        resolve_onecard_leg(conn, leg.leg_txn_id, "completed", ctx.now, message.kiosk_id)
    store.set_leg(conn, leg.id, state="completed", proof=proof, resolved_at=ctx.now)
    store.set_transfer(conn, txn.id, state="completed", completed_at=ctx.now, resolved_by=message.kiosk_id)
    return {"txn_id": txn.txn_id, "status": "completed"}


@describe(CANCEL)
def handle_cancel(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    txn_id = text_field(message.body, "txn_id")
    refuse_pan([txn_id], what="the cancel's txn_id")
    reason = reason_field(message.body)
    txn = store.transfer(conn, txn_id)
    if txn is None:
        if len(txn_id) <= 56:   # a tombstone: a late authorise is declined `cancelled`
            store.new_transfer(conn, {"txn_id": txn_id, "kiosk_id": message.kiosk_id, "amount_fen": 0,
                                      "state": "cancelled", "code": reason, "business_day": ctx.business_day,
                                      "created_at": ctx.now, "resolved_by": message.kiosk_id},
                               {"txn_id": txn_id, "result": "declined", "code": "cancelled"})
        return {"txn_id": txn_id, "status": "not_found"}
    if txn.state == "declined":
        return {"txn_id": txn_id, "status": "not_found"}
    txn = store.catch_up(conn, txn, ctx)
    if txn.state == "cancelled":
        return {"txn_id": txn_id, "status": "already_cancelled"}
    if txn.state == "completed":
        raise BadRequest("the transfer is completed; it cannot be cancelled")
    if txn.state == "authorised":
        leg = store.debit_leg(conn, txn.id)
        resolve_onecard_leg(conn, leg.leg_txn_id, "cancelled", ctx.now, message.kiosk_id, reason)
        store.set_leg(conn, leg.id, state="cancelled", resolved_at=ctx.now)
        store.set_transfer(conn, txn.id, state="cancelled", code=reason, resolved_by=message.kiosk_id)
        return {"txn_id": txn_id, "status": "cancelled"}
    leg = store.credit_leg(conn, txn.id)        # debited: only a credit attempt can be given up, never the credit
    if leg is not None and leg.state == "authorised":
        resolve_onecard_leg(conn, leg.leg_txn_id, "cancelled", ctx.now, message.kiosk_id, reason)
        store.set_leg(conn, leg.id, state="cancelled", resolved_at=ctx.now)
    return {"txn_id": txn_id, "status": "credit_owed"}
