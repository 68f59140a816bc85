"""HTTP endpoints of the card centre (docs/cards.md §5): thin, like the bank's.
Every message goes through the SecureChannel (MAC, counter, one transaction).
A host whose config has no [card_centre] keys answers 503 card_centre_off."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from host.api_spec import inherit
from host.bank.security import Handler, SecureChannel
from host.cards.load import handle_load_authorise, handle_load_cancel, handle_load_confirm
from host.cards.lookup import handle_blacklist, handle_seen
from host.cards.purchase import handle_purchase_authorise, handle_purchase_cancel, handle_purchase_confirm
from host.cards.status import handle_status
from host.cards.unload import handle_unload_authorise, handle_unload_cancel, handle_unload_confirm
from host.config import HostSettings
from common.settings import ConfigError
from host.http_body import read_capped, too_large
from common.clock import Clock

HANDLERS: dict[str, Handler] = {
    "seen": handle_seen,
    "blacklist": handle_blacklist,
    "status": handle_status,
    "load/authorise": handle_load_authorise,
    "load/confirm": handle_load_confirm,
    "load/cancel": handle_load_cancel,
    "unload/authorise": handle_unload_authorise,
    "unload/confirm": handle_unload_confirm,
    "unload/cancel": handle_unload_cancel,
    "purchase/authorise": handle_purchase_authorise,
    "purchase/confirm": handle_purchase_confirm,
    "purchase/cancel": handle_purchase_cancel,
}


def card_routes(settings: HostSettings, engine: Engine, clock: Clock) -> list[Route]:
    channel = SecureChannel(engine, settings, clock=clock)

    def secured(handler: Handler) -> Callable[[Request], object]:
        async def endpoint(request: Request) -> Response:
            if settings.issuer_keys is None:
                return JSONResponse({"error": "card_centre_off",
                                     "message": "this host has no [card_centre] keys"}, status_code=503)
            raw = await read_capped(request)      # 64 KiB at most, refused unread beyond
            if raw is None:
                return too_large()
            try:
                reply = await run_in_threadpool(channel.handle, handler, request.url.path, raw,
                                                request.headers.get("x-mac"))
            except ConfigError:   # a load or unload moves bank money: no [bank] keys, no account (rolled back)
                return JSONResponse({"error": "bank_off", "message": "this host has no [bank] keys"},
                                    status_code=503)
            headers = {"X-MAC": reply.mac} if reply.mac else {}
            return Response(reply.body, status_code=reply.status, media_type="application/json", headers=headers)
        return inherit(endpoint, handler, statuses=(503,))   # card_centre_off, bank_off; its schemas (host.openapi)

    return [Route(f"/api/v1/cards/{path}", secured(handler), methods=["POST"]) for path, handler in HANDLERS.items()]
