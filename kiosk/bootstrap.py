"""Composition root: config -> adapters -> services -> app. The only module
that knows concrete classes; tests build the same graph (DESIGN §2 rule 6)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiosk.backend_client.client import HostClient
from kiosk.config import KioskSettings
from kiosk.services.bills import BillService

if TYPE_CHECKING:
    import httpx


@dataclass
class Kiosk:
    """The kiosk's service graph, with no UI: what screens call."""

    settings: KioskSettings
    host: HostClient
    bills: BillService

    def warm_up(self) -> None:
        """Load what start-up deferred; called once the idle screen is drawn."""
        self.host.warm_up()

    async def aclose(self) -> None:
        await self.host.aclose()


def build(settings: KioskSettings, *, host_transport: "httpx.AsyncBaseTransport | None" = None) -> Kiosk:
    host = HostClient(settings.host.url, timeout_s=settings.host.timeout_s, transport=host_transport)
    return Kiosk(settings=settings, host=host, bills=BillService(host))
