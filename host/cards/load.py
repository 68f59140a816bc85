"""Wallet load (圈存) from a bank card: authorise (card checks, MAC1, wallet
limit, then the bank's own checks and the debit; MAC2), confirm (the card's
TAC proves the credit: the mirror moves), cancel (the bank is credited back).

Money: authorise moves the amount from the bank account into `loads in
flight`; confirm moves it onto the card's mirrored balance; cancel moves it
back to the bank account."""
from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, Row

from host.bank.journal import WALLET_LOAD, WALLET_LOAD_REVERSAL, write_line
from host.api_spec import DECLINED, TXN_ID, Operation, describe, hex_bytes, nullable, obj, text
from host.bank.payments import BANK_CARD, PIN_BLOCK, authorise_debit, bank_card_fields, credit_account
from host.bank.security import Context, Message, text_field
from host.cards import registry
from host.cards.fields import (CARD_REQUEST, COMPLETED, WALLET, approved, cancel_operation, card_request, hex_field,
                               wallet_field)
from host.cards.txns import (WALLET_MAX_FEN, cancel, card_decline, card_keys, complete, declined, earlier_answer,
                             mirrored, move_mirror, new_row, record, record_decline, refuse_proof, same,
                             to_confirm)
from common.epurse import TxnType, Wallet
from common.epurse_issuer import load_mac1, load_mac2, load_tac, online_session_key
from common.bank_card import mask_pan


LOAD_AUTHORISE = Operation(
    "Authorise a wallet load from a bank card: the card's MAC1 checked, the bank account debited; MAC2 for the card",
    request=obj({**CARD_REQUEST, "wallet": WALLET, "mac1": hex_bytes(4), **BANK_CARD, **PIN_BLOCK}),
    reply={"anyOf": [approved(mac2=hex_bytes(4), reference=nullable(text(12))), DECLINED]}, statuses=(503,))
LOAD_CONFIRM = Operation("Confirm a wallet load with the card's TAC: the card's mirrored balance moves",
                         request=obj({"txn_id": TXN_ID, "tac": hex_bytes(4)}), reply=COMPLETED)


@describe(LOAD_AUTHORISE)
def handle_load_authorise(conn: Connection, message: Message, ctx: Context) -> dict[str, Any] | bytes:
    body = message.body
    req = card_request(body)
    wallet = wallet_field(body)
    mac1 = hex_field(body, "mac1", 4)
    bank = bank_card_fields(body)
    earlier = earlier_answer(conn, req.txn_id, "load", message.kiosk_id)
    if earlier is not None:
        return earlier
    txn_type = TxnType.load(wallet)
    row = new_row(req, message, ctx, kind="load", txn_type=txn_type, wallet=wallet,
                  masked_pan=mask_pan(bank["pan"]))

    card = registry.card(conn, req.serial)
    code = card_decline(card)
    if code is not None:
        return record_decline(conn, row, code)
    sk = online_session_key(card_keys(ctx, req.serial).dlk, req.random, req.counter)
    if not same(load_mac1(sk, req.balance_fen, req.amount_fen, txn_type, req.term_id), mac1):
        return record_decline(conn, row, "mac1_invalid")
    if mirrored(card, wallet) + req.amount_fen > WALLET_MAX_FEN[wallet]:
        return record_decline(conn, row, "wallet_limit")

    decision = authorise_debit(conn, ctx, pan=bank["pan"], pin_block=bank["pin_block"], amount_fen=req.amount_fen)
    row.update(account_id=decision.account.id if decision.account is not None else None,
               masked_pan=decision.masked_pan)
    if decision.approved:
        row["state"] = "authorised"
        mac2 = load_mac2(sk, req.amount_fen, txn_type, req.term_id, req.when_bcd)
        reply: dict[str, Any] = {"txn_id": req.txn_id, "result": "approved", "mac2": mac2.hex().upper(),
                                 "reference": None}
        answer = record(conn, row, reply)
    else:
        assert decision.code is not None
        answer = record_decline(conn, row, decision.code, decision.tries_left)
        reply = declined(req.txn_id, decision.code, decision.tries_left)
    write_line(conn, day=ctx.business_day, at=ctx.now, kiosk_id=message.kiosk_id, txn_id=req.txn_id,
               type_=WALLET_LOAD, result=reply["result"], code=reply.get("code"), masked_pan=decision.masked_pan,
               amount_fen=req.amount_fen, reference=reply.get("reference"), auth_code=None)
    return answer


def _completed(txn: Row[Any]) -> dict[str, Any]:
    return {"txn_id": txn.txn_id, "status": "completed"}


@describe(LOAD_CONFIRM)
def handle_load_confirm(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    txn_id = text_field(message.body, "txn_id")
    tac = hex_field(message.body, "tac", 4)
    txn, repeat = to_confirm(conn, txn_id, "load", tac.hex().upper(), _completed)
    if repeat is not None:
        return repeat
    # the card's new balance is the one it answered INITIALIZE with + the amount;
    # the counter is the one before the load incremented it
    expected = load_tac(card_keys(ctx, txn.serial).dtk, txn.balance_fen + txn.amount_fen, txn.counter,
                        txn.amount_fen, TxnType(txn.txn_type), bytes.fromhex(txn.term_id), bytes.fromhex(txn.when))
    if not same(expected, tac):
        raise refuse_proof(txn, "TAC", message.kiosk_id)
    complete(conn, txn, tac.hex().upper(), message, ctx)
    move_mirror(conn, txn.serial, Wallet[txn.wallet], txn.amount_fen, ctx)
    return _completed(txn)


@describe(cancel_operation("load"))
def handle_load_cancel(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    def give_back(txn: Row[Any], reason: str | None) -> None:
        credit_account(conn, txn.account_id, txn.amount_fen)
        write_line(conn, day=ctx.business_day, at=ctx.now, kiosk_id=message.kiosk_id, txn_id=txn.txn_id,
                   type_=WALLET_LOAD_REVERSAL, result="reversed", code=reason, masked_pan=txn.masked_pan,
                   amount_fen=txn.amount_fen, reference=txn.reference, auth_code=None)
    return cancel(conn, message, ctx, "load", give_back)
