"""Request bodies of the signed endpoints (bank, card centre, heartbeat), read
with a cap: a body over MAX_BODY is refused as soon as its Content-Length or
its first bytes past the cap say so, never read to the end nor parsed."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

# The cap of every signed message's body (docs/host-api.md "Limits"); the
# message security (host.bank.security) refuses a longer one again.
MAX_BODY = 64 * 1024

_TOO_LARGE = f'{{"error":"bad_request","message":"the body is larger than {MAX_BODY} bytes"}}'.encode()


def too_large() -> Response:
    """413 bad_request (no X-MAC: nothing of the body was read)."""
    return Response(_TOO_LARGE, status_code=413, media_type="application/json")


async def read_capped(request: Request, limit: int = MAX_BODY) -> bytes | None:
    """The body, or None when it is larger than `limit` bytes (answer too_large():
    413, no X-MAC; nothing is parsed). A bad Content-Length counts as too large."""
    length = request.headers.get("content-length")
    if length is not None and (not (length.isascii() and length.isdigit()) or int(length) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
