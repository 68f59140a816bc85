"""Wallet unload (圈提) of the passbook (ED) to a bank card: authorise (card
checks, MAC1 under the unload key, the bank card exists and is usable; no bank
PIN: it is a credit; MAC2), confirm (the card's MAC3 proves the debit: the
bank account is credited and the mirror moves), cancel (nothing moved).

Money moves only at confirm: from the card's mirrored ED balance to the bank
account."""
from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, Row

from host.bank.journal import WALLET_UNLOAD, write_line
from host.api_spec import DECLINED, TXN_ID, Operation, describe, hex_bytes, obj
from host.bank.payments import BANK_CARD, bank_card_fields, check_bank_card, credit_account
from host.bank.security import BadRequest, Context, Message, text_field
from host.cards import registry
from host.cards.fields import CARD_REQUEST, COMPLETED, approved, cancel_operation, card_request, hex_field
from host.cards.txns import (cancel, card_decline, card_keys, complete, earlier_answer, move_mirror, new_row, record,
                             record_decline, refuse_proof, same, to_confirm)
from common.epurse import TxnType, Wallet
from common.epurse_issuer import load_mac1, load_mac2, online_session_key, unload_mac3


UNLOAD_AUTHORISE = Operation(
    "Authorise a passbook (ED) unload to a bank card (no PIN: a credit); MAC2 for the card",
    request=obj({**CARD_REQUEST, "mac1": hex_bytes(4), **BANK_CARD}),
    reply={"anyOf": [approved(mac2=hex_bytes(4)), DECLINED]}, statuses=(503,))
UNLOAD_CONFIRM = Operation("Confirm an unload with the card's MAC3: the bank account is credited",
                           request=obj({"txn_id": TXN_ID, "mac3": hex_bytes(4)}), reply=COMPLETED)


@describe(UNLOAD_AUTHORISE)
def handle_unload_authorise(conn: Connection, message: Message, ctx: Context) -> dict[str, Any] | bytes:
    body = message.body
    req = card_request(body)
    mac1 = hex_field(body, "mac1", 4)
    bank = bank_card_fields(body, with_pin=False)
    if req.amount_fen > req.balance_fen:   # the card refuses such an INITIALIZE (9401): a kiosk bug
        raise BadRequest("amount_fen is above the card's balance_fen")
    earlier = earlier_answer(conn, req.txn_id, "unload", message.kiosk_id)
    if earlier is not None:
        return earlier
    row = new_row(req, message, ctx, kind="unload", txn_type=TxnType.UNLOAD, wallet=Wallet.ED)

    decision = check_bank_card(conn, ctx, bank["pan"])
    row.update(account_id=decision.account.id if decision.account is not None else None,
               masked_pan=decision.masked_pan)
    code = card_decline(registry.card(conn, req.serial))
    if code is not None:
        return record_decline(conn, row, code)
    sk = online_session_key(card_keys(ctx, req.serial).duk, req.random, req.counter)
    if not same(load_mac1(sk, req.balance_fen, req.amount_fen, TxnType.UNLOAD, req.term_id), mac1):
        return record_decline(conn, row, "mac1_invalid")
    if not decision.approved:
        assert decision.code is not None
        write_line(conn, day=ctx.business_day, at=ctx.now, kiosk_id=message.kiosk_id, txn_id=req.txn_id,
                   type_=WALLET_UNLOAD, result="declined", code=decision.code, masked_pan=decision.masked_pan,
                   amount_fen=req.amount_fen, reference=None, auth_code=None)
        return record_decline(conn, row, decision.code)
    row["state"] = "authorised"
    mac2 = load_mac2(sk, req.amount_fen, TxnType.UNLOAD, req.term_id, req.when_bcd)
    return record(conn, row, {"txn_id": req.txn_id, "result": "approved", "mac2": mac2.hex().upper()})


def _completed(txn: Row[Any]) -> dict[str, Any]:
    return {"txn_id": txn.txn_id, "status": "completed"}


@describe(UNLOAD_CONFIRM)
def handle_unload_confirm(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    txn_id = text_field(message.body, "txn_id")
    mac3 = hex_field(message.body, "mac3", 4)
    txn, repeat = to_confirm(conn, txn_id, "unload", mac3.hex().upper(), _completed)
    if repeat is not None:
        return repeat
    sk = online_session_key(card_keys(ctx, txn.serial).duk, bytes.fromhex(txn.random), txn.counter)
    expected = unload_mac3(sk, txn.balance_fen - txn.amount_fen, txn.counter, txn.amount_fen,
                           bytes.fromhex(txn.term_id), bytes.fromhex(txn.when))
    if not same(expected, mac3):
        raise refuse_proof(txn, "MAC3", message.kiosk_id)
    complete(conn, txn, mac3.hex().upper(), message, ctx)
    move_mirror(conn, txn.serial, Wallet.ED, -txn.amount_fen, ctx)
    # the card has paid out: the account is credited even if blocked meanwhile
    credit_account(conn, txn.account_id, txn.amount_fen)
    write_line(conn, day=ctx.business_day, at=ctx.now, kiosk_id=message.kiosk_id, txn_id=txn.txn_id,
               type_=WALLET_UNLOAD, result="approved", code=None, masked_pan=txn.masked_pan,
               amount_fen=txn.amount_fen, reference=txn.reference, auth_code=None)
    return _completed(txn)


@describe(cancel_operation("unload"))
def handle_unload_cancel(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    return cancel(conn, message, ctx, "unload")
