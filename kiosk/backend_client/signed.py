"""Signed kiosk -> host messages (docs/payments.md): a JSON body holding the
kiosk id and a strictly increasing counter, MACed (ANSI X9.19) over its exact
bytes; the reply's MAC is checked the same way. The kiosk's messages leave one
at a time, in counter order (MessageCounter).

Failure mapping, by what we can know about the money:
- connection refused            -> HostUnavailable: the request never left
- timeout / broken connection,
  5xx, or a reply whose MAC fails -> OutcomeUnknown (financial) / HostUnavailable
- 401 bad MAC / not signed on   -> NotSignedOn: sign on again (the host changed nothing)
- other 4xx                     -> HostRejected (the host changed nothing), or
                                   the caller's own error for a code it names
                                   (`refusals`: the bill look-up's house_not_found)
"""
from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypedDict

from common.crypto import mac_x919, request_mac
from kiosk.domain.errors import BadHostReply, HostRejected, HostUnavailable, NotSignedOn, OutcomeUnknown

if TYPE_CHECKING:
    import ssl

    import httpx


# A JSON object as it comes off the wire, before a client checks it and gives
# it its typed shape (bank.py, cards.py): the channel knows no message's fields.
JsonObject = dict[str, object]

# a host refusal's "error" code -> the caller's own error for it, made from the host's message
Refusals = Mapping[str, Callable[[str], Exception]]


class _ChannelOptions(TypedDict):
    """httpx.AsyncClient's arguments, kept until the client is built."""
    base_url: str
    timeout: float
    transport: httpx.AsyncBaseTransport | None
    verify: ssl.SSLContext | bool


def encode_body(fields: Mapping[str, object]) -> bytes:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def mac_hex(key: bytes, body: bytes) -> str:
    return mac_x919(key, body).hex().upper()


class MessageCounter:
    """The kiosk's one sequence of message counters, shared by all its signed
    channels (bank and card centre, fleet). The host accepts a counter only above
    the last one it accepted, so the kiosk's messages must reach it in counter
    order: a message takes its counter and keeps the turn until its reply is in
    (or it failed), and the next message waits for it. Two messages in flight at
    once on separate connections (a backup copy from the settling task and a
    bill look-up or a payment) would otherwise race, and the one with the lower
    counter would be refused as a replay. A message that timed out and still
    arrives later is refused as a replay, so it can never be acted on after a
    newer one (its outcome is already "unknown" to the kiosk: reversed if money)."""

    def __init__(self, next_value: Callable[[], int]) -> None:
        self._next_value = next_value      # the journal's counter: it survives a restart
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[int]:
        async with self._lock:
            yield self._next_value()


class SignedChannel:
    def __init__(self, base_url: str, kiosk_id: str, counter: MessageCounter, *,
                 timeout_s: float, transport: "httpx.AsyncBaseTransport | None" = None,
                 verify: "ssl.SSLContext | bool" = True) -> None:
        """`verify`: how the host's certificate is checked (backend_client.tls)."""
        self.kiosk_id = kiosk_id
        self._counter = counter
        self._options: _ChannelOptions = {"base_url": base_url, "timeout": timeout_s, "transport": transport,
                                          "verify": verify}
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> "httpx.AsyncClient":
        if self._http is None:
            import httpx
            # A fresh connection per message, as payment terminals do: a pooled one the
            # network closed while idle would fail as "disconnected without a response",
            # indistinguishable from a lost reply, and force a needless reversal.
            self._http = httpx.AsyncClient(**self._options, limits=httpx.Limits(max_keepalive_connections=0))
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def post(self, path: str, fields: Mapping[str, object], key: bytes, *, financial: bool,
                   refusals: Refusals | None = None) -> JsonObject:
        """`refusals`: a signed 4xx whose "error" code is named there raises that
        error (with the host's message) instead of HostRejected."""
        import httpx

        unknown = OutcomeUnknown if financial else HostUnavailable
        async with self._counter.turn() as counter:
            body = encode_body({"kiosk_id": self.kiosk_id, "counter": counter, **fields})
            try:
                response = await self._client().post(path, content=body, headers={
                    "Content-Type": "application/json", "X-MAC": request_mac(key, path, body).hex().upper()})
            except httpx.ConnectError as exc:  # no connection was made: nothing was sent
                raise HostUnavailable(f"{path}: {exc}") from exc
            except httpx.TransportError as exc:  # it may have arrived and been acted on
                raise unknown(f"{path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise unknown(f"{path}: HTTP {response.status_code}")
        reply_mac = response.headers.get("X-MAC", "")
        if not hmac.compare_digest(reply_mac.upper(), mac_hex(key, response.content)):
            if response.status_code == 401:
                raise NotSignedOn(f"{path}: HTTP 401, reply not under our key")
            raise unknown(f"{path}: reply MAC does not verify")
        try:
            reply = json.loads(response.content)
        except ValueError as exc:
            raise unknown(f"{path}: reply is not JSON") from exc
        if response.status_code == 401:
            raise NotSignedOn(f"{path}: {reply.get('error')}")
        if response.status_code != 200:
            code = reply.get("error") if isinstance(reply, dict) else None
            if refusals and isinstance(code, str) and code in refusals:
                raise refusals[code](str(reply.get("message", "")))
            raise HostRejected(f"{path}: HTTP {response.status_code} {reply.get('error')}")
        if not isinstance(reply, dict):
            raise (unknown if financial else BadHostReply)(f"{path}: reply is not an object")
        return reply
