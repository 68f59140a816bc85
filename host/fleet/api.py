"""POST /api/v1/fleet/heartbeat (docs/console.md): the exact body bytes go to
the fleet, the reply goes back with its X-MAC."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from host.api_spec import describe
from host.fleet.model import HEARTBEAT
from host.fleet.service import HEARTBEAT_PATH, Fleet
from host.http_body import read_capped, too_large


def fleet_routes(fleet: Fleet) -> list[Route]:
    @describe(HEARTBEAT)
    async def heartbeat(request: Request) -> Response:
        raw = await read_capped(request)      # 64 KiB at most, refused unread beyond
        if raw is None:
            return too_large()
        reply = await fleet.heartbeat(raw, request.headers.get("x-mac"))
        headers = {"X-MAC": reply.mac} if reply.mac else {}
        return Response(reply.body, status_code=reply.status, media_type="application/json", headers=headers)

    return [Route(HEARTBEAT_PATH, heartbeat, methods=["POST"])]
