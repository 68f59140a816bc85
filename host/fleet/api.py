"""POST /api/v1/fleet/heartbeat (docs/console.md): the exact body bytes go to
the fleet, the reply goes back with its X-MAC."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from host.fleet.service import MAX_BODY, Fleet


def fleet_routes(fleet: Fleet) -> list[Route]:
    async def heartbeat(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return Response(b'{"error":"bad_request","message":"body too large"}', status_code=413,
                            media_type="application/json")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return Response(b'{"error":"bad_request","message":"body too large"}', status_code=413,
                            media_type="application/json")
        reply = await fleet.heartbeat(raw, request.headers.get("x-mac"))
        headers = {"X-MAC": reply.mac} if reply.mac else {}
        return Response(reply.body, status_code=reply.status, media_type="application/json", headers=headers)

    return [Route("/api/v1/fleet/heartbeat", heartbeat, methods=["POST"])]
