"""transfers/authorise: one transfer between two cards, refused unless it can
be matched (amount within [transfer] limits, two different cards, both usable,
the destination's wallet able to take it, the source able to give it), then
the source's debit authorised: a CPU card's purchase MAC1 (DESIGN §3), or a
one-card's session keys (its figures equal to the mirror, DESIGN §5).
Nothing moves here: the debit moves money when the card proves it."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Connection

from host.api_spec import (DECLINED, TXN_ID, Operation, describe, enum, hex_bytes, integer, obj, text)
from host.bank.card_guard import refuse_pan
from host.bank.security import BadRequest, Context, Message, int_field, text_field
from host.cards.fields import U32, hex_field, u32_field, when_field
from host.cards.txns import card_keys
from host.onecard.fields import KEYS, deliver, operation_sectors
from host.transfers import store
from host.transfers.cards import CPU, ONECARD, Card, card_fields, onecard_leg, onecard_mirror, refusal
from common.epurse import TxnType
from common.epurse_issuer import purchase_mac1, purchase_sk
from common.onecard import COUNT_MODULO, MAX_AMOUNT

_KIND = enum(CPU, ONECARD)
_CARD = text(20, pattern="^[0-9A-Fa-f]{8}([0-9A-Fa-f]{12})?$", min_len=8)
AUTHORISE = Operation(
    "Authorise a transfer between two cards: limits, both cards and the source's figures checked; "
    "the source's debit authorised (a CPU card's purchase MAC1, or a one-card's session keys)",
    request=obj({"txn_id": text(56), "amount_fen": integer(1, MAX_AMOUNT), "src_kind": _KIND, "src_card": _CARD,
                 "src_balance_fen": U32, "src_counter": integer(0, 0xFFFF), "dst_kind": _KIND, "dst_card": _CARD},
                {"src_wallet": enum("ED", "EP"), "dst_wallet": enum("ED", "EP"), "src_random": hex_bytes(4),
                 "src_term_txn_no": U32, "term_id": hex_bytes(6), "when": text(14, pattern="^[0-9]{14}$", min_len=14)}),
    reply={"anyOf": [obj({"txn_id": TXN_ID, "result": enum("approved"), "reference": text(12),
                          "leg_txn_id": TXN_ID},
                         {"mac1": hex_bytes(4), "keys": KEYS, "balance_after": integer(0, MAX_AMOUNT),
                          "count_after": integer(0, COUNT_MODULO - 1)}), DECLINED]})


def _declined(txn_id: str, code: str) -> dict[str, Any]:
    return {"txn_id": txn_id, "result": "declined", "code": code, "tries_left": None}


@describe(AUTHORISE)
def handle_authorise(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    body = message.body
    txn_id = text_field(body, "txn_id")
    refuse_pan([txn_id], what="txn_id")
    if len(txn_id) > 56:
        raise BadRequest("txn_id of a transfer is at most 56 characters (its legs add a suffix)")
    amount = int_field(body, "amount_fen", 1)
    src, dst = card_fields(body, "src"), card_fields(body, "dst")
    balance, counter = u32_field(body, "src_balance_fen"), int_field(body, "src_counter")
    cpu = _cpu_fields(body) if src.kind == CPU else None
    earlier = store.transfer(conn, txn_id)
    if earlier is not None:
        return _again(conn, earlier, message, src, ctx)
    row: dict[str, Any] = {
        "txn_id": txn_id, "kiosk_id": message.kiosk_id, "amount_fen": amount, "state": "declined",
        "src_kind": src.kind, "src_card": src.card, "src_wallet": src.wallet.name if src.wallet else None,
        "dst_kind": dst.kind, "dst_card": dst.card, "dst_wallet": dst.wallet.name if dst.wallet else None,
        "business_day": ctx.business_day, "created_at": ctx.now}
    code = _decline(conn, ctx, src, dst, amount, balance, counter)
    if code is not None:
        reply = _declined(txn_id, code)
        store.new_transfer(conn, {**row, "code": code}, reply)
        return reply
    leg_txn_id = f"{txn_id}:D"
    reply = {"txn_id": txn_id, "result": "approved", "reference": "", "leg_txn_id": leg_txn_id}
    pk = store.new_transfer(conn, {**row, "state": "authorised"}, reply)
    leg = {"transfer_id": pk, "leg": store.DEBIT, "leg_txn_id": leg_txn_id, "card_kind": src.kind,
           "card": src.card, "wallet": row["src_wallet"], "amount_fen": amount, "balance_before": balance,
           "counter": counter, "state": "authorised", "created_at": ctx.now}
    if cpu is not None:
        assert src.wallet is not None
        random, term_txn_no, term_id, when = cpu
        store.new_leg(conn, **leg, txn_type=int(TxnType.purchase(src.wallet)), random=random.hex().upper(),
                      term_txn_no=term_txn_no, term_id=term_id.hex().upper(), when=when)
        return {**reply, "mac1": _mac1(ctx, src, amount, counter, *cpu).hex().upper()}
    after, count_after = onecard_leg(conn, leg_txn_id=leg_txn_id, kiosk_id=message.kiosk_id, uid=src.card,
                                     credit=False, amount=amount, balance=balance, count=counter, ctx=ctx)
    store.new_leg(conn, **leg, txn_type=0x08)
    return {**reply, "balance_after": after, "count_after": count_after,
            "keys": deliver(ctx, src.card, operation_sectors(False))}


def _cpu_fields(body: dict[str, Any]) -> tuple[bytes, int, bytes, str]:
    return (hex_field(body, "src_random", 4), u32_field(body, "src_term_txn_no"), hex_field(body, "term_id", 6),
            when_field(body))


def _mac1(ctx: Context, src: Card, amount: int, counter: int, random: bytes, term_txn_no: int, term_id: bytes,
          when: str) -> bytes:
    assert src.wallet is not None
    sk = purchase_sk(card_keys(ctx, src.card).dpk, random, counter, term_txn_no)
    return purchase_mac1(sk, amount, TxnType.purchase(src.wallet), term_id, bytes.fromhex(when))


def _decline(conn: Connection, ctx: Context, src: Card, dst: Card, amount: int, balance: int,
             counter: int) -> str | None:
    limits = ctx.settings.transfer
    if src.same_as(dst):
        return "same_card"
    if amount > limits.per_transfer_fen:
        return "transfer_limit"
    if store.out_today(conn, src.card, ctx) + amount > limits.per_card_day_fen:
        return "daily_limit"
    code = refusal(conn, src, ctx, credit=False, amount=amount) or refusal(conn, dst, ctx, credit=True,
                                                                          amount=amount)
    if code is not None:
        return code
    if src.kind == ONECARD and (balance, counter) != onecard_mirror(conn, src.card):
        return "mirror_mismatch"          # present the card: its presentation rules on it
    if amount > balance:
        return "insufficient_funds"
    return None


def _again(conn: Connection, txn: Any, message: Message, src: Card, ctx: Context) -> dict[str, Any]:
    """A repeat of a txn_id: the first answer (a one-card's keys anew: never stored)."""
    if txn.kiosk_id != message.kiosk_id:
        raise BadRequest("this txn_id belongs to another kiosk")
    if txn.state == "cancelled":             # a cancel came first (its tombstone) or the debit never applied
        return _declined(txn.txn_id, "cancelled")
    if txn.src_card != src.card:
        raise BadRequest("this txn_id belongs to another transfer")
    reply: dict[str, Any] = json.loads(txn.reply_json)
    if reply.get("result") == "approved" and txn.src_kind == ONECARD:
        reply["keys"] = deliver(ctx, txn.src_card, operation_sectors(False))
    return reply
