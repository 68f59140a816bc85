"""HTTP endpoints of the signed JSON channel's bank side: the sign-on and the
kiosks' backup copies (docs/host-api.md). Bill payments and their reversals go
over ISO 8583 (host.bank.frontend, docs/bank-link.md). The endpoints are thin:
read the exact body bytes, hand them to the SecureChannel with the handler,
send the reply bytes with X-MAC."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from host.api_spec import inherit
from host.bank.backups import handle_backup
from host.bank.payments import handle_sign_on
from host.bank.security import Handler, Reply, SecureChannel
from host.config import HostSettings
from host.http_body import read_capped, too_large
from common.clock import Clock


def _response(reply: Reply) -> Response:
    headers = {"X-MAC": reply.mac} if reply.mac else {}
    return Response(reply.body, status_code=reply.status, media_type="application/json", headers=headers)


def bank_routes(settings: HostSettings, engine: Engine, clock: Clock) -> list[Route]:
    channel = SecureChannel(engine, settings, clock=clock)

    def secured(handler: Handler, *, under_tmk: bool = False) -> Callable[[Request], object]:
        async def endpoint(request: Request) -> Response:
            raw = await read_capped(request)      # 64 KiB at most, refused unread beyond
            if raw is None:
                return too_large()
            # writes wait on fsync: off the event loop
            reply = await run_in_threadpool(channel.handle, handler, request.url.path, raw, request.headers.get("x-mac"),
                                            under_tmk=under_tmk)
            return _response(reply)
        return inherit(endpoint, handler)   # its schemas (host.openapi)

    return [
        Route("/api/v1/bank/sign-on", secured(handle_sign_on, under_tmk=True), methods=["POST"]),
        Route("/api/v1/property/transactions", secured(handle_backup), methods=["POST"]),
    ]
