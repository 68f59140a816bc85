"""HTTP endpoints of the one-card (docs/onecard.md "Messages"): thin, like the
card centre's, on the same SecureChannel (MAC, counter, one transaction per
message). A host whose [card_centre] has no one-card keys answers 503
onecard_off."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from host.api_spec import inherit
from host.bank.security import Handler, SecureChannel
from host.config import HostSettings
from host.http_body import read_capped, too_large
from host.onecard.blacklist import handle_blacklist, handle_unblock
from host.onecard.money import handle_authorise, handle_cancel, handle_confirm
from host.onecard.present import handle_keys, handle_present
from common.clock import Clock
from common.settings import ConfigError

HANDLERS: dict[str, Handler] = {
    "keys": handle_keys,
    "present": handle_present,
    "authorise": handle_authorise,
    "confirm": handle_confirm,
    "cancel": handle_cancel,
    "blacklist": handle_blacklist,      # the unpaid-fee blacklist (host/onecard/blacklist.py)
    "unblock": handle_unblock,
}


def onecard_routes(settings: HostSettings, engine: Engine, clock: Clock) -> list[Route]:
    channel = SecureChannel(engine, settings, clock=clock)

    def secured(handler: Handler) -> Callable[[Request], object]:
        async def endpoint(request: Request) -> Response:
            if settings.onecard_keys is None:
                return JSONResponse({"error": "onecard_off",
                                     "message": "this host has no one-card keys ([card_centre] mka, mkb, mki)"},
                                    status_code=503)
            raw = await read_capped(request)
            if raw is None:
                return too_large()
            try:
                reply = await run_in_threadpool(channel.handle, handler, request.url.path, raw,
                                                request.headers.get("x-mac"))
            except ConfigError:   # a load moves bank money: no [bank] keys, no account (rolled back)
                return JSONResponse({"error": "bank_off", "message": "this host has no [bank] keys"},
                                    status_code=503)
            headers = {"X-MAC": reply.mac} if reply.mac else {}
            return Response(reply.body, status_code=reply.status, media_type="application/json", headers=headers)
        return inherit(endpoint, handler, statuses=(503,))

    return [Route(f"/api/v1/onecard/{path}", secured(handler), methods=["POST"]) for path, handler in HANDLERS.items()]
