"""The signed kiosk messages of a meter sale (docs/host-api.md "Prepaid meters",
docs/meters.md "The host"): check, authorise, sign-write, confirm, cancel.

States: quoted (check) -> paid (authorise: the bank card debited and the signed
EF 01 image made, in one transaction) -> written (a write MAC handed out: the
card may hold the image from now on) -> confirmed (EF 01 read back), or
reversed (cancel: the money back, only while the card provably does not hold
the image). The tear rule is in `_resolve`: each check of the meter's card
settles its unconfirmed sale by the purchase count on the card."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from common.meter_card import MAX_QUANTITY, MeterStatus, Purchase, Utility, can_sell, next_purchase
from common.meter_keys import purchase_mac_ok, sign_purchase, write_mac
from host.bank.card_guard import withheld
from host.bank.journal import write_line
from host.bank.payments import authorise_debit, bank_card_fields, credit_account
from host.bank.security import BadRequest, Context, Message, Refusal, int_field, text_field
from host.meters import store
from host.meters.cards import CardRead, CardRefused, hex_field, purchase_field, read_card
from host.meters.tariff import amount_of, quantity_for, quote
from host.schema.meters import meter_sales, prepaid_meters
from host.config.meters import MeterSettings

_VERDICTS = {"NOT_APPLIED": "not_applied", "OVER_HOARDING_LIMIT": "over_hoarding_limit",
             "BAD_QUANTITY": "bad_quantity", "TOTAL_FULL": "total_full"}


def meter_settings(ctx: Context) -> MeterSettings:
    assert ctx.settings.meters is not None      # the endpoint answers 503 meters_off before
    return ctx.settings.meters


def _sale(conn: Connection, sale_id: str) -> Any:
    return conn.execute(select(meter_sales).where(meter_sales.c.sale_id == sale_id).with_for_update()).first()


def _set(conn: Connection, sale: Any, **values: Any) -> None:
    conn.execute(update(meter_sales).where(meter_sales.c.id == sale.id).values(**values))


def _set_meter(conn: Connection, number: str, ctx: Context, **values: Any) -> None:
    conn.execute(update(prepaid_meters).where(prepaid_meters.c.meter_no == number)
                 .values(updated_at=ctx.now, **values))


# --- check ------------------------------------------------------------------------------
def _resolve(conn: Connection, card: CardRead, ctx: Context) -> dict[str, Any] | None:
    """The tear rule: the meter's sale paid and not confirmed is settled by the
    card. EF 01 = its image: it was written (confirmed now). EF 01 one count
    behind: not written: the kiosk writes the same image again with a new
    challenge (`pending`), or cancels the sale with this read as its proof.
    Anything else: the card is not the one the sale went to (stale_card)."""
    sale = store.pending_sale(conn, card.meter.meter_no)
    if sale is None:
        return None
    if card.ef01.encode().hex().upper() == sale.image:
        _set(conn, sale, state="confirmed", confirmed_at=ctx.now)
        return None
    if card.ef01.count == (sale.count - 1) % 0x10000 and card.ef01.total == sale.total - sale.quantity:
        return {"sale_id": sale.sale_id, "image": sale.image, "count": sale.count, "quantity": sale.quantity,
                "amount_fen": sale.amount_fen}
    raise CardRefused("stale_card", "this card is not the one the meter's last sale went to")


def _card_figures(card: CardRead) -> dict[str, Any]:
    ef02 = card.ef02
    return {"meter": card.meter.meter_no, "utility": card.meter.utility, "house_no": card.meter.house_no,
            "card_state": card.meter.card_state, "count": card.ef01.count, "total": card.ef01.total,
            "remaining": ef02.remaining, "cumulative": ef02.cumulative, "last_applied": ef02.last_count,
            "status_bits": int(ef02.status), "status": [str(s.name).lower() for s in MeterStatus if s and s in ef02.status],
            "applied": ef02.last_count == card.ef01.count, "hoarding_max": card.meter.hoarding_max,
            "meter_time": None if ef02.time is None else ef02.time.isoformat()}


def handle_check(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    settings = meter_settings(ctx)
    body = message.body
    try:
        card = read_card(conn, body, settings.keys)
        figures = _card_figures(card)
        pending = _resolve(conn, card, ctx)
        if pending is None and card.ef01.count != card.meter.last_count:
            raise CardRefused("stale_card", "this card's purchase count is not the meter's last sale")
    except CardRefused as refused:
        return {"result": "refused", "code": refused.code}
    reply: dict[str, Any] = {"result": "ok", **figures, "pending": pending}
    if pending is not None:
        return {**reply, "result": "pending"}
    quantity, amount = body.get("quantity"), body.get("amount_fen")
    if quantity is None and amount is None:   # can anything be sold now (the smallest quantity)?
        verdict = can_sell(card.ef01, card.ef02, 1, card.meter.hoarding_max)
        if verdict.refusal is not None:
            return {**reply, "result": "refused", "code": _VERDICTS[verdict.refusal.name]}
        return reply
    tariff = settings.tariff(card.meter.utility)
    bought = store.bought_this_year(conn, card.meter.meter_no, ctx.now.year)
    if quantity is None:
        room = max(0, min(MAX_QUANTITY, card.meter.hoarding_max - card.ef02.remaining))
        quantity = quantity_for(tariff.tiers, bought, int_field(body, "amount_fen", 1), room)
        if quantity == 0:
            return {**reply, "result": "refused", "code": "over_hoarding_limit" if room == 0 else "amount_too_small"}
    quantity = int_field({"quantity": quantity}, "quantity", 1)
    verdict = can_sell(card.ef01, card.ef02, quantity, card.meter.hoarding_max)
    if not verdict:
        assert verdict.refusal is not None
        return {**reply, "result": "refused", "code": _VERDICTS[verdict.refusal.name]}
    lines = quote(tariff.tiers, bought, quantity)
    reply["quote"] = {"quantity": quantity, "amount_fen": amount_of(lines), "lines": [x.wire() for x in lines],
                      "bought_this_year": bought}
    sale_id = body.get("sale_id")
    if sale_id is not None:
        sale_id = text_field(body, "sale_id")
        if _sale(conn, sale_id) is not None:
            raise BadRequest("sale_id is already used: quote under a new one")
        image = next_purchase(card.ef01, card.meter.meter_no, Utility.named(card.meter.utility), quantity)
        conn.execute(insert(meter_sales).values(
            sale_id=sale_id, kiosk_id=message.kiosk_id, meter_no=card.meter.meter_no,
            household_id=card.meter.household_id, count=image.count, quantity=quantity, total=image.total,
            year=ctx.now.year, lines=json.dumps(reply["quote"]["lines"]), amount_fen=reply["quote"]["amount_fen"],
            state="quoted", quoted_at=ctx.now))
        reply["quote"]["sale_id"] = sale_id
    return reply


# --- authorise: the bank card pays, the image is signed --------------------------------
def _paid(sale: Any) -> dict[str, Any]:
    return {"sale_id": sale.sale_id, "result": "approved", "reference": sale.reference, "image": sale.image,
            "count": sale.count, "quantity": sale.quantity, "amount_fen": sale.amount_fen,
            "business_day": sale.business_day.isoformat()}


def _blocked(conn: Connection, sale: Any, meter: Any) -> str | None:
    """Why `sale` cannot be paid now: the card lost, or the meter moved on since
    the quote (another sale paid, awaiting its write, or being paid from a wallet)."""
    if meter.card_state == "lost":
        return "lost_card"
    if store.pending_sale(conn, sale.meter_no) is not None or store.wallet_paying(conn, sale.meter_no, sale.sale_id) \
            or meter.last_count != (sale.count - 1) % 0x10000:
        return "quote_stale"
    return None


def mark_paid(conn: Connection, sale: Any, ctx: Context, *, reference: str, account_id: int | None = None,
              masked_pan: str | None = None) -> None:
    """The sale paid: its EF 01 image signed under the meter's PK, the meter's
    last count moved to it (a bank card's authorise, a wallet purchase's confirm)."""
    meter = store.meter(conn, sale.meter_no)
    unsigned = Purchase(sale.meter_no, Utility.named(meter.utility), sale.count, sale.quantity, sale.total)
    image = sign_purchase(meter_settings(ctx).keys.for_meter(sale.meter_no).pk, unsigned).encode().hex().upper()
    _set(conn, sale, state="paid", image=image, account_id=account_id, masked_pan=masked_pan,
         reference=reference, business_day=ctx.business_day, paid_at=ctx.now)
    _set_meter(conn, sale.meter_no, ctx, last_count=sale.count, last_total=sale.total)


def handle_authorise(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    meter_settings(ctx)
    body = message.body
    sale_id = text_field(body, "sale_id")
    amount = int_field(body, "amount_fen", 1)
    by_wallet = body.get("wallet_txn_id") is not None
    card_fields = None if by_wallet else bank_card_fields(body)
    sale = _sale(conn, sale_id)
    if sale is None:
        raise BadRequest("no quoted sale with this sale_id (check with a quantity and sale_id first)")
    if sale.kiosk_id != message.kiosk_id:
        raise BadRequest("this sale belongs to another kiosk")
    if amount != sale.amount_fen:
        raise BadRequest(f"amount_fen {amount} is not the quoted {sale.amount_fen}")
    if by_wallet:     # paid by the wallet purchase's confirm (host.cards.purchase): its image, or not paid
        txn = store.wallet_purchase(conn, text_field(body, "wallet_txn_id"))
        if sale.state in store.SOLD and txn is not None and txn.reference == sale.reference:
            return _paid(sale)
        return {"sale_id": sale_id, "result": "declined", "code": "not_paid", "tries_left": None}
    assert card_fields is not None
    if sale.state in store.SOLD:
        return _paid(sale)                       # a repeat: the same answer, nothing debited twice
    if sale.state != "quoted":
        return {"sale_id": sale_id, "result": "declined", "code": sale.state, "tries_left": None}
    meter = store.meter(conn, sale.meter_no)
    decision = authorise_debit(conn, ctx, pan=card_fields["pan"], pin_block=card_fields["pin_block"],
                               amount_fen=amount, business=lambda: _blocked(conn, sale, meter))
    day = ctx.business_day
    if not decision.approved:
        write_line(conn, day=day, at=ctx.now, kiosk_id=message.kiosk_id, txn_id=sale_id, type_="meter_sale",
                   result="declined", code=decision.code, masked_pan=decision.masked_pan, amount_fen=amount,
                   reference=None, auth_code=None)
        return {"sale_id": sale_id, "result": "declined", "code": decision.code, "tries_left": decision.tries_left}
    assert decision.account is not None
    reference = f"M{day:%y%m%d}{sale.id % 100_000:05d}"
    mark_paid(conn, sale, ctx, reference=reference, account_id=decision.account.id, masked_pan=decision.masked_pan)
    write_line(conn, day=day, at=ctx.now, kiosk_id=message.kiosk_id, txn_id=sale_id, type_="meter_sale",
               result="approved", code=None, masked_pan=decision.masked_pan, amount_fen=amount,
               reference=reference, auth_code=None)
    return _paid(_sale(conn, sale_id))


# --- the IC wallet's seam (host.cards.purchase) ------------------------------------------
def wallet_sale(conn: Connection, sale_id: str, amount_fen: int, kiosk_id: str) -> tuple[int, str | None]:
    """A wallet purchase of meter sale `sale_id` being authorised: (the sale's
    household, a decline code or None). While that purchase is authorised the
    meter sells nothing else (store.wallet_paying)."""
    sale = _sale(conn, sale_id)
    if sale is None or sale.kiosk_id != kiosk_id:
        raise BadRequest("no quoted meter sale of this kiosk with this meter_sale")
    if amount_fen != sale.amount_fen:
        raise BadRequest(f"amount_fen {amount_fen} is not the quoted {sale.amount_fen}")
    if sale.state != "quoted":
        return sale.household_id, "sale_" + sale.state
    return sale.household_id, _blocked(conn, sale, store.meter(conn, sale.meter_no))


def pay_from_wallet(conn: Connection, sale_id: str, ctx: Context, *, reference: str) -> bool:
    """The wallet purchase of `sale_id` is confirmed (the card's TAC verified):
    the sale is paid against its reference. False (logged by the caller) if the
    sale can no longer be paid: the money is taken and staff settle it."""
    sale = _sale(conn, sale_id)
    if sale is None or sale.state != "quoted" or store.pending_sale(conn, sale.meter_no) is not None:
        return False
    mark_paid(conn, sale, ctx, reference=reference)
    return True


# --- sign-write, confirm ------------------------------------------------------------------
def _open_sale(conn: Connection, body: dict[str, Any]) -> Any:
    sale = _sale(conn, text_field(body, "sale_id"))
    if sale is None:
        raise BadRequest("no sale with this sale_id")
    return sale


def handle_sign_write(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    """The secure write's MAC for the sale's image and the card's challenge. Any
    kiosk of the fleet may ask: a torn write is finished wherever the card goes."""
    sale = _open_sale(conn, message.body)
    challenge = hex_field(message.body, "challenge", 4)
    if sale.state not in store.PENDING:
        raise Refusal(409, f"sale_{sale.state}", f"the sale is {sale.state}: nothing to write")
    if sale.state == "paid":
        _set(conn, sale, state="written", written_at=ctx.now)
    uk = meter_settings(ctx).keys.for_meter(sale.meter_no).uk
    return {"sale_id": sale.sale_id, "mac": write_mac(uk, challenge, bytes.fromhex(sale.image)).hex().upper()}


def handle_confirm(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    sale = _open_sale(conn, message.body)
    ef01 = purchase_field(message.body)
    if sale.state == "confirmed":
        return {"sale_id": sale.sale_id, "status": "confirmed"}
    if sale.state not in store.PENDING or ef01.encode().hex().upper() != sale.image:
        raise Refusal(409, "not_written", "EF 01 is not this sale's image")
    _set(conn, sale, state="confirmed", confirmed_at=ctx.now)
    return {"sale_id": sale.sale_id, "status": "confirmed"}


# --- cancel: the money back, only while the card provably lacks the image ---------------
def handle_cancel(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    """A sale never paid is dropped; a paid one whose write MAC was never handed
    out is reversed (no card can hold an image without it); a written one only
    with EF 01 as read after a fresh GET CHALLENGE (which voids any MAC handed
    out) showing the count before the sale, under the meter's PK MAC."""
    body = message.body
    sale = _open_sale(conn, body)
    reason = withheld(body.get("reason", "") if isinstance(body.get("reason"), str) else "")[:64] or None
    if sale.state == "reversed":
        return {"sale_id": sale.sale_id, "status": "reversed"}
    if sale.state == "confirmed":
        raise Refusal(409, "sale_confirmed", "the units are on the card: nothing to give back")
    if sale.state == "quoted":
        _set(conn, sale, state="reversed", reversed_at=ctx.now, reason=reason)
        return {"sale_id": sale.sale_id, "status": "reversed"}
    if sale.account_id is None:   # paid from the wallet: the units are owed, written at the card's next read
        raise Refusal(409, "wallet_paid", "a sale paid from the IC wallet is written, never given back here")
    if sale.state == "written":
        ef01 = purchase_field(body)
        keys = meter_settings(ctx).keys.for_meter(sale.meter_no)
        before = (sale.count - 1) % 0x10000
        if ef01.encode().hex().upper() == sale.image:
            raise Refusal(409, "written", "the card holds the sale: confirm it")
        proven = (ef01.blank and before == 0 and sale.total == sale.quantity) or (
            ef01.meter == sale.meter_no and ef01.count == before and purchase_mac_ok(keys.pk, ef01))
        if not proven:
            raise Refusal(409, "not_proven", "EF 01 does not show the card without this sale")
    credit_account(conn, sale.account_id, sale.amount_fen)
    _set(conn, sale, state="reversed", reversed_at=ctx.now, reason=reason)
    _set_meter(conn, sale.meter_no, ctx, last_count=(sale.count - 1) % 0x10000, last_total=sale.total - sale.quantity)
    write_line(conn, day=ctx.business_day, at=ctx.now, kiosk_id=message.kiosk_id, txn_id=sale.sale_id,
               type_="meter_reversal", result="reversed", code=reason, masked_pan=sale.masked_pan,
               amount_fen=sale.amount_fen, reference=sale.reference, auth_code=None)
    return {"sale_id": sale.sale_id, "status": "reversed"}
