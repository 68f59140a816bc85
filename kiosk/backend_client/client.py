"""Async client to the property host. Converts transport and HTTP failures into
the kiosk's typed host errors at this boundary (DESIGN §2 rule 4).

The bill look-up is a signed message (docs/host-api.md "Bill look-up") sent
under the session's MAC key through the bank client's channel (the kiosk's one
counter, one sign-on); only the health check is a plain GET."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, cast

from kiosk.backend_client.signed import JsonObject, Refusals
from kiosk.backend_client.wire import parse_household_bill
from kiosk.domain.bill import HouseholdBill
from kiosk.domain.errors import BadHostReply, HostRejected, HostUnavailable, HouseNotFound
from common.errors import BadHouseNumber
from common.house import HouseNumber

if TYPE_CHECKING:
    import ssl

    import httpx


class _ClientOptions(TypedDict):
    """httpx.AsyncClient's arguments, kept until the client is built."""
    base_url: str
    timeout: float
    transport: httpx.AsyncBaseTransport | None
    headers: dict[str, str]
    verify: ssl.SSLContext | bool


class HealthReply(TypedDict):
    status: str     # "ok" (health says nothing more: it is open)


class BillRequest(TypedDict):
    house_no: str   # canonical building-unit-room


BILL_PATH = "/api/v1/households/bill"


# the host's signed refusals of a look-up, as the resident's errors
BILL_REFUSALS: Refusals = {"house_not_found": HouseNotFound, "bad_house_number": BadHouseNumber}


class SignedPoster(Protocol):
    """What signs a message under the session's MAC key (BankClient.post): raises
    NotSignedOn when there is no key yet or the host refuses ours."""

    async def post(self, path: str, fields: Mapping[str, object], *, financial: bool,
                   refusals: Refusals | None = None) -> JsonObject: ...


class HostClient:
    def __init__(self, base_url: str, signed: SignedPoster, *, timeout_s: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None, verify: ssl.SSLContext | bool = True) -> None:
        """`verify`: how the host's certificate is checked (backend_client.tls)."""
        self._signed = signed
        self._options: _ClientOptions = {"base_url": base_url, "timeout": timeout_s, "transport": transport,
                                         "headers": {"Accept": "application/json"}, "verify": verify}
        self._http: httpx.AsyncClient | None = None

    def warm_up(self) -> httpx.AsyncClient:
        """Import httpx and build the client. Deferred from start-up (~120 ms of
        imports) until the idle screen is up, so the kiosk shows itself sooner."""
        if self._http is None:
            import httpx
            self._http = httpx.AsyncClient(**self._options)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def _get(self, path: str) -> Any:
        import httpx

        for attempt in (1, 2):
            try:
                response = await self.warm_up().get(path)
                break
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                # a pooled connection the network broke while idle: a GET is safe to repeat once
                if attempt == 2:
                    raise HostUnavailable(f"{type(exc).__name__}: {exc}") from exc
            except httpx.TransportError as exc:  # refused, timeout: nothing happened
                raise HostUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise HostUnavailable(f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise BadHostReply(f"HTTP {response.status_code}: not JSON") from exc
        if response.status_code != 200:
            raise HostRejected(f"HTTP {response.status_code}: {body.get('error')}")
        return body

    async def health(self) -> HealthReply:
        return cast(HealthReply, await self._get("/api/v1/health"))

    async def household_bill(self, house: HouseNumber) -> HouseholdBill:
        """The signed look-up: HouseNotFound, BadHouseNumber, HostUnavailable,
        BadHostReply, or NotSignedOn (sign on and ask again: BillService)."""
        request: BillRequest = {"house_no": str(house)}
        reply = await self._signed.post(BILL_PATH, request, financial=False, refusals=BILL_REFUSALS)
        return parse_household_bill(reply)
