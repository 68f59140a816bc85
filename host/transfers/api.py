"""HTTP endpoints of transfers (docs/cards.md "Transfers"): signed on the
SecureChannel like the card centre's; a host without [card_centre] keys
answers 503 card_centre_off (a one-card side also needs mka/mkb/mki)."""
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
from host.transfers.authorise import handle_authorise
from host.transfers.legs import handle_cancel, handle_confirm, handle_credit, handle_debit
from host.transfers.owed import handle_owed
from common.clock import Clock

HANDLERS: dict[str, Handler] = {
    "authorise": handle_authorise,
    "debit": handle_debit,
    "credit": handle_credit,
    "confirm": handle_confirm,
    "cancel": handle_cancel,
    "owed": handle_owed,
}


def transfer_routes(settings: HostSettings, engine: Engine, clock: Clock) -> list[Route]:
    channel = SecureChannel(engine, settings, clock=clock)

    def secured(handler: Handler) -> Callable[[Request], object]:
        async def endpoint(request: Request) -> Response:
            if settings.issuer_keys is None or settings.onecard_keys is None:
                return JSONResponse({"error": "card_centre_off",
                                     "message": "this host has no [card_centre] keys"}, status_code=503)
            raw = await read_capped(request)
            if raw is None:
                return too_large()
            reply = await run_in_threadpool(channel.handle, handler, request.url.path, raw,
                                            request.headers.get("x-mac"))
            headers = {"X-MAC": reply.mac} if reply.mac else {}
            return Response(reply.body, status_code=reply.status, media_type="application/json", headers=headers)
        return inherit(endpoint, handler, statuses=(503,))

    return [Route(f"/api/v1/transfers/{path}", secured(handler), methods=["POST"])
            for path, handler in HANDLERS.items()]
