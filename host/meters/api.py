"""HTTP endpoints of prepaid meter vending (docs/host-api.md "Prepaid meters"):
thin, like the card centre's. Every message goes through the SecureChannel
(MAC, counter, one transaction). A host whose config has no [meters] keys
answers 503 meters_off."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.clock import Clock
from common.settings import ConfigError
from host.api_spec import (AMOUNT_FEN, DAY, REASON, TXN_ID, Operation, describe, enum, hex_bytes, inherit, integer,
                           nullable, obj, text)
from host.bank.payments import BANK_CARD, PIN_BLOCK
from host.bank.security import Handler, SecureChannel
from host.config import HostSettings
from host.http_body import read_capped, too_large
from host.meters import sales

QUANTITY = integer(1, 0xFFFFFF)
EF01, EF02 = hex_bytes(20), hex_bytes(24)
_LINE = obj({"tier": integer(1), "quantity": QUANTITY, "unit_price": text(12), "amount_fen": integer()})
_PENDING = obj({"sale_id": TXN_ID, "image": EF01, "count": integer(0, 0xFFFF), "quantity": QUANTITY,
                "amount_fen": AMOUNT_FEN})
_REFUSAL = enum("foreign_meter", "bad_card_mac", "lost_card", "stale_card", "not_applied", "over_hoarding_limit",
                "bad_quantity", "total_full", "amount_too_small")
CHECK = Operation(
    "Check a meter user card as read (EF 01, EF 02): MACs, card state, the meter's estate and figures, "
    "the vending rule, and a quote for a quantity or an amount (recorded as a quoted sale under sale_id)",
    request=obj({"ef01": EF01, "ef02": EF02}, {"meter": text(12), "quantity": QUANTITY, "amount_fen": AMOUNT_FEN,
                                               "sale_id": TXN_ID}),
    reply={"anyOf": [
        obj({"result": enum("refused"), "code": _REFUSAL}),
        {"type": "object", "required": ["result", "meter", "utility", "house_no", "card_state", "count", "total",
                                        "remaining", "cumulative", "last_applied", "status_bits", "status",
                                        "applied", "hoarding_max", "meter_time", "pending"],
         "properties": {"result": enum("ok", "pending", "refused"), "code": _REFUSAL,
                        "pending": nullable(_PENDING), "quote": obj(
                            {"quantity": QUANTITY, "amount_fen": integer(), "lines": {"type": "array", "items": _LINE},
                             "bought_this_year": integer()}, {"sale_id": TXN_ID})}}]},
    description="`pending`: the meter's last sale is paid and not on the card: write its image again "
                "(sign-write) or cancel it with this read as the proof (docs/meters.md, the tear rule).")
AUTHORISE = Operation(
    "Pay a quoted meter sale by bank card; approved: the sale is recorded against the payment reference "
    "and the signed EF 01 image answered", statuses=(503,),
    request=obj({"sale_id": TXN_ID, "amount_fen": AMOUNT_FEN, **BANK_CARD, **PIN_BLOCK}),
    reply={"anyOf": [
        obj({"sale_id": TXN_ID, "result": enum("approved"), "reference": text(12), "image": EF01,
             "count": integer(0, 0xFFFF), "quantity": QUANTITY, "amount_fen": AMOUNT_FEN, "business_day": DAY}),
        obj({"sale_id": TXN_ID, "result": enum("declined"), "code": text(32), "tries_left": nullable(integer())})]},
    description="Idempotent on sale_id: a repeat answers the approval again and debits nothing.")
SIGN_WRITE = Operation(
    "The secure write's MAC of a paid sale's image for the card's challenge (any kiosk of the fleet)",
    request=obj({"sale_id": TXN_ID, "challenge": hex_bytes(4)}),
    reply=obj({"sale_id": TXN_ID, "mac": hex_bytes(4)}))
CONFIRM = Operation(
    "Confirm a meter sale with EF 01 as read back after the write",
    request=obj({"sale_id": TXN_ID, "ef01": EF01}), reply=obj({"sale_id": TXN_ID, "status": enum("confirmed")}))
CANCEL = Operation(
    "Cancel a meter sale: the payment reversed while the card provably does not hold it",
    request=obj({"sale_id": TXN_ID}, {"ef01": EF01, "reason": REASON}),
    reply=obj({"sale_id": TXN_ID, "status": enum("reversed")}),
    description="A written sale (its write MAC handed out) needs `ef01` read after a fresh GET CHALLENGE, "
                "showing the count before the sale; 409 otherwise.")

HANDLERS: dict[str, Handler] = {
    "check": describe(CHECK)(sales.handle_check),
    "authorise": describe(AUTHORISE)(sales.handle_authorise),
    "sign-write": describe(SIGN_WRITE)(sales.handle_sign_write),
    "confirm": describe(CONFIRM)(sales.handle_confirm),
    "cancel": describe(CANCEL)(sales.handle_cancel),
}


def meter_routes(settings: HostSettings, engine: Engine, clock: Clock) -> list[Route]:
    channel = SecureChannel(engine, settings, clock=clock)

    def secured(handler: Handler) -> Callable[[Request], object]:
        async def endpoint(request: Request) -> Response:
            if settings.meters is None:
                return JSONResponse({"error": "meters_off", "message": "this host has no [meters] keys"},
                                    status_code=503)
            raw = await read_capped(request)
            if raw is None:
                return too_large()
            try:
                reply = await run_in_threadpool(channel.handle, handler, request.url.path, raw,
                                                request.headers.get("x-mac"))
            except ConfigError:   # a sale moves bank money: no [bank] keys, no account (rolled back)
                return JSONResponse({"error": "bank_off", "message": "this host has no [bank] keys"},
                                    status_code=503)
            headers = {"X-MAC": reply.mac} if reply.mac else {}
            return Response(reply.body, status_code=reply.status, media_type="application/json", headers=headers)
        return inherit(endpoint, handler, statuses=(503,))

    return [Route(f"/api/v1/meters/{path}", secured(handler), methods=["POST"]) for path, handler in HANDLERS.items()]
