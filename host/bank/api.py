"""HTTP endpoints of the bank front-end and the property host's payment side
(docs/payments.md). The endpoints are thin: read the exact body bytes, hand
them to the SecureChannel with the handler, send the reply bytes with X-MAC."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from host.api_spec import inherit
from host.bank.backups import handle_backup
from host.bank.payments import handle_payment, handle_reversal, handle_sign_on
from host.bank.security import Handler, Reply, SecureChannel
from host.config import HostSettings
from host.http_body import read_capped, too_large
from common.clock import Clock


def _response(reply: Reply) -> Response:
    headers = {"X-MAC": reply.mac} if reply.mac else {}
    return Response(reply.body, status_code=reply.status, media_type="application/json", headers=headers)


def bank_routes(settings: HostSettings, engine: Engine, clock: Clock) -> list[Route]:
    channel = SecureChannel(engine, settings, clock=clock)

    def secured(handler: Handler, *, under_tmk: bool = False, card: bool = False) -> Callable[[Request], object]:
        async def endpoint(request: Request) -> Response:
            if card and settings.bank is None:    # no [bank] keys: no account can be found (docs/payments.md)
                return JSONResponse({"error": "bank_off", "message": "this host has no [bank] keys"},
                                    status_code=503)
            raw = await read_capped(request)      # 64 KiB at most, refused unread beyond
            if raw is None:
                return too_large()
            # writes wait on fsync: off the event loop
            reply = await run_in_threadpool(channel.handle, handler, request.url.path, raw, request.headers.get("x-mac"),
                                            under_tmk=under_tmk)
            return _response(reply)
        return inherit(endpoint, handler, statuses=(503,) if card else ())   # its schemas (host.openapi)

    return [
        Route("/api/v1/bank/sign-on", secured(handle_sign_on, under_tmk=True), methods=["POST"]),
        Route("/api/v1/bank/payments", secured(handle_payment, card=True), methods=["POST"]),
        Route("/api/v1/bank/reversals", secured(handle_reversal), methods=["POST"]),
        Route("/api/v1/property/transactions", secured(handle_backup), methods=["POST"]),
    ]
