"""Paying the household bill from the wallet: authorise (card checks, then the
bill exactly as a bank-card payment checks it; MAC1 from the card centre as
the security module), confirm (the card's TAC and MAC2 prove the debit: the
bills are paid, the property ledger gets the entry, the mirror moves), cancel.

Money moves only at confirm: from the card's mirrored balance to the property
ledger. While a purchase is authorised, the household's bill is reserved for
it: another purchase or a bank-card payment of it is declined payment_pending."""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection, Row

from host.api_spec import DECLINED, HOUSE_NO, PERIODS, TXN_ID, Operation, describe, enum, hex_bytes, obj, text
from host.bank.payments import bill_decline, house_field, periods_field
from host.bank.security import BadRequest, Context, Message, text_field
from host.billing import pay_bills
from host.cards import registry
from host.cards.fields import (CARD_REQUEST, U32, WALLET, approved, cancel_operation, card_request, hex_field,
                               u32_field, wallet_field)
from host.cards.txns import (cancel, card_decline, card_keys, complete, earlier_answer, log, move_mirror, new_row,
                             record, record_decline, refuse_proof, same, to_confirm)
from host.meters.sales import pay_from_wallet, wallet_sale
from host.meters.store import WALLET_PREFIX
from host.schema.bank import property_ledger
from host.schema.estate import households
from common.epurse import TxnType, Wallet
from common.epurse_issuer import purchase_mac1, purchase_mac2, purchase_sk, purchase_tac

_HOUSEHOLD = select(households.c.id).where(households.c.house_no == bindparam("house_no")).with_for_update()
_LEDGER = insert(property_ledger)


PURCHASE_AUTHORISE = Operation(
    "Authorise paying the household's bill (or a quoted meter sale) from the wallet (the bill is reserved); "
    "MAC1 for the card",
    request=obj({**CARD_REQUEST, "wallet": WALLET, "term_txn_no": U32},
                {"house_no": HOUSE_NO, "periods": PERIODS, "meter_sale": TXN_ID}),
    reply={"anyOf": [approved(mac1=hex_bytes(4)), DECLINED]},
    description="Either house_no and periods (the bill) or meter_sale (a sale quoted by /api/v1/meters/check: "
                "docs/meters.md), whose confirm pays the sale instead of bills.")
PURCHASE_CONFIRM = Operation(
    "Confirm a wallet purchase with the card's TAC and MAC2: the bills are paid",
    request=obj({"txn_id": TXN_ID, "tac": hex_bytes(4), "mac2": hex_bytes(4)}),
    reply=obj({"txn_id": TXN_ID, "status": enum("completed"), "reference": text(12)}))


@describe(PURCHASE_AUTHORISE)
def handle_purchase_authorise(conn: Connection, message: Message, ctx: Context) -> dict[str, Any] | bytes:
    body = message.body
    req = card_request(body)
    wallet = wallet_field(body)
    meter_sale = text_field(body, "meter_sale") if body.get("meter_sale") is not None else None
    house_no = house_field(body) if meter_sale is None else ""
    periods = periods_field(body) if meter_sale is None else []
    term_txn_no = u32_field(body, "term_txn_no")
    if req.amount_fen > req.balance_fen:   # the card refuses such an INITIALIZE (9401): a kiosk bug
        raise BadRequest("amount_fen is above the card's balance_fen")
    earlier = earlier_answer(conn, req.txn_id, "purchase", message.kiosk_id)
    if earlier is not None:
        return earlier
    sale_code: str | None = None
    if meter_sale is not None:     # a meter sale (host.meters): its quote, not a bill, is what is paid
        household_id, sale_code = wallet_sale(conn, meter_sale, req.amount_fen, message.kiosk_id)
    else:
        found = conn.execute(_HOUSEHOLD, {"house_no": house_no}).scalar()
        if found is None:
            raise BadRequest(f"no household {house_no} on this estate")
        household_id = int(found)
    txn_type = TxnType.purchase(wallet)
    row = new_row(req, message, ctx, kind="purchase", txn_type=txn_type, wallet=wallet, term_txn_no=term_txn_no,
                  household_id=household_id,
                  periods=WALLET_PREFIX + meter_sale if meter_sale is not None else ",".join(periods))

    code = card_decline(registry.card(conn, req.serial)) or sale_code
    if code is not None:
        return record_decline(conn, row, code)
    late_fee = 0
    if meter_sale is None:
        code, bill = bill_decline(conn, household_id, req.amount_fen, periods, ctx)
        if code is not None:
            return record_decline(conn, row, code)
        assert bill is not None
        late_fee = bill.late_fee_fen
    row.update(state="authorised", late_fee_fen=late_fee)
    sk = purchase_sk(card_keys(ctx, req.serial).dpk, req.random, req.counter, term_txn_no)
    mac1 = purchase_mac1(sk, req.amount_fen, txn_type, req.term_id, req.when_bcd)
    return record(conn, row, {"txn_id": req.txn_id, "result": "approved", "mac1": mac1.hex().upper()})


def _completed(txn: Row[Any]) -> dict[str, Any]:
    return {"txn_id": txn.txn_id, "status": "completed", "reference": txn.reference}


@describe(PURCHASE_CONFIRM)
def handle_purchase_confirm(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    txn_id = text_field(message.body, "txn_id")
    tac = hex_field(message.body, "tac", 4)
    mac2 = hex_field(message.body, "mac2", 4)
    txn, repeat = to_confirm(conn, txn_id, "purchase", (tac + mac2).hex().upper(), _completed)
    if repeat is not None:
        return repeat
    keys = card_keys(ctx, txn.serial)
    term_id, when, txn_type = bytes.fromhex(txn.term_id), bytes.fromhex(txn.when), TxnType(txn.txn_type)
    if not same(purchase_tac(keys.dtk, txn.amount_fen, txn_type, term_id, txn.term_txn_no, when), tac):
        raise refuse_proof(txn, "TAC", message.kiosk_id)
    sk = purchase_sk(keys.dpk, bytes.fromhex(txn.random), txn.counter, txn.term_txn_no)
    if not same(purchase_mac2(sk, txn.amount_fen), mac2):
        raise refuse_proof(txn, "MAC2", message.kiosk_id)
    complete(conn, txn, (tac + mac2).hex().upper(), message, ctx)
    move_mirror(conn, txn.serial, Wallet[txn.wallet], -txn.amount_fen, ctx)
    if txn.periods.startswith(WALLET_PREFIX):   # a meter sale: paid now, its image signed (host.meters)
        sale_id = txn.periods.removeprefix(WALLET_PREFIX)
        if not pay_from_wallet(conn, sale_id, ctx, reference=txn.reference):
            log.warning("purchase %s paid meter sale %s, which can no longer be sold: staff settle it",
                        txn_id, sale_id)
        return _completed(txn)
    periods = txn.periods.split(",")
    paid = pay_bills(conn, txn.household_id, periods, reference=txn.reference, paid_at=ctx.now)
    if paid != len(periods):   # the card has paid: the money is taken and staff settle the difference
        log.warning("purchase %s paid %d of %d bills (paid elsewhere meanwhile)", txn_id, paid, len(periods))
    conn.execute(_LEDGER, {"txn_id": txn.txn_id, "kind": "wallet", "household_id": txn.household_id,
                           "periods": txn.periods, "amount_fen": txn.amount_fen, "late_fee_fen": txn.late_fee_fen,
                           "reference": txn.reference, "business_day": ctx.business_day, "at": ctx.now})
    return _completed(txn)


@describe(cancel_operation("purchase"))
def handle_purchase_cancel(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    return cancel(conn, message, ctx, "purchase")
