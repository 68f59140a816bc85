"""The bill look-up the kiosks ask for (docs/host-api.md "Bill look-up"): a
signed kiosk message like the bank's and the card centre's (host.bank.security:
the kiosk's counter, an X9.19 MAC over "POST <path>" and the body, the reply
MACed), answering only what the kiosk shows a resident.

Issue 13 found the old `GET /api/v1/households/{house_no}/bill` open to anyone:
720 look-ups in 0.6 s read 228 households' floor areas, readings, usage,
arrears and totals. Now only a kiosk of the fleet, signed on, can ask, and a
refusal (unsigned, bad MAC, replayed counter, another kiosk's key) carries
no bill data."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from common.clock import Clock
from common.errors import BadHouseNumber
from host.api_spec import DAY, FEN, HOUSE_NO, PERIOD, Operation, array, describe, inherit, integer, nullable, obj, text
from host.bank.security import Context, Message, Refusal, SecureChannel
from host.billing import UnknownHouse, household_bill
from host.config import HostSettings
from host.http_body import read_capped, too_large

BILL_PATH = "/api/v1/households/bill"

# The reply's fields: exactly those the kiosk shows (the bill screen,
# kiosk/screens/bill_view.py; the receipt, kiosk/services/receipts.py; `kiosk
# bill`, kiosk/billprint.py), listed in docs/host-api.md. Anything
# household_bill() computes beyond them (a month's issue date) stays on the host.
BILL_FIELDS = ("house_no", "estate", "area_m2", "as_of", "current", "arrears", "late_fee_fen", "total_due_fen")
MONTH_FIELDS = ("period", "due_on", "paid", "amount_fen", "lines")
LINE_FIELDS = ("utility", "unit", "previous_reading", "current_reading", "usage", "tiers", "amount_fen")
TIER_FIELDS = ("tier", "quantity", "unit_price", "amount_fen")
ARREAR_FIELDS = ("period", "due_on", "days_overdue", "amount_fen", "late_fee_fen")

MAX_HOUSE_NO = 16   # docs/host-api.md "Limits": house_no ≤ 16, as everywhere

_DECIMAL = text(16, pattern="^[0-9]+(\\.[0-9]{1,2})?$")    # "86.50", "1234.00": two places at most
_TIER = obj({"tier": integer(1), "quantity": _DECIMAL, "unit_price": text(32), "amount_fen": FEN})
_LINE = obj({"utility": text(32), "unit": text(16), "previous_reading": nullable(_DECIMAL),
             "current_reading": nullable(_DECIMAL), "usage": _DECIMAL, "tiers": array(_TIER, 16),
             "amount_fen": FEN})
_MONTH = obj({"period": PERIOD, "due_on": DAY, "paid": {"type": "boolean"}, "amount_fen": FEN,
              "lines": array(_LINE, 16)})
_ARREAR = obj({"period": PERIOD, "due_on": DAY, "days_overdue": integer(), "amount_fen": FEN, "late_fee_fen": FEN})
BILL = Operation(
    "A household's bill as of the day the message is booked: exactly what the kiosk shows (docs/host-api.md)",
    request=obj({"house_no": text(MAX_HOUSE_NO)}), statuses=(404,),
    reply=obj({"house_no": HOUSE_NO, "estate": text(128), "area_m2": _DECIMAL, "as_of": DAY,
               "current": nullable(_MONTH), "arrears": array(_ARREAR, 64), "late_fee_fen": FEN,
               "total_due_fen": FEN}))


def _only(values: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: values[name] for name in fields}


def screen_bill(bill: dict[str, Any]) -> dict[str, Any]:
    """household_bill()'s reply cut down to the fields the kiosk shows."""
    reply = _only(bill, BILL_FIELDS)
    if bill["current"] is not None:
        month = _only(bill["current"], MONTH_FIELDS)
        month["lines"] = [{**_only(line, LINE_FIELDS), "tiers": [_only(t, TIER_FIELDS) for t in line["tiers"]]}
                          for line in bill["current"]["lines"]]
        reply["current"] = month
    reply["arrears"] = [_only(a, ARREAR_FIELDS) for a in bill["arrears"]]
    return reply


@describe(BILL)
def handle_bill(conn: Connection, message: Message, context: Context) -> dict[str, Any]:
    """{"house_no": "3-2-1202"} -> the household's bill as of the day the
    message is booked; 400 bad_house_number, 404 house_not_found."""
    house_no = message.body.get("house_no")
    if not isinstance(house_no, str) or not 0 < len(house_no) <= MAX_HOUSE_NO:
        raise Refusal(400, "bad_house_number", "house_no must be building-unit-room, e.g. 3-2-1202")
    try:
        bill = household_bill(conn, house_no, context.business_day, context.settings)
    except BadHouseNumber:
        raise Refusal(400, "bad_house_number", f"{house_no!r} is not building-unit-room, e.g. 3-2-1202") from None
    except UnknownHouse:
        raise Refusal(404, "house_not_found",
                      f"no household {house_no} on {context.settings.estate_name}") from None
    return screen_bill(bill)


def bill_routes(settings: HostSettings, engine: Engine, clock: Clock) -> list[Route]:
    channel = SecureChannel(engine, settings, clock=clock)

    def endpoint(handler: Callable[[Connection, Message, Context], dict[str, Any]]) -> Callable[[Request], Any]:
        async def bill(request: Request) -> Response:
            raw = await read_capped(request)      # 64 KiB at most, refused unread beyond
            if raw is None:
                return too_large()
            # the counter is stored (a write, which waits on fsync): off the event loop
            reply = await run_in_threadpool(channel.handle, handler, request.url.path, raw,
                                            request.headers.get("x-mac"))
            headers = {"X-MAC": reply.mac} if reply.mac else {}
            return Response(reply.body, status_code=reply.status, media_type="application/json", headers=headers)
        return bill

    return [Route(BILL_PATH, inherit(endpoint(handle_bill), handle_bill), methods=["POST"])]
