"""What the bench panel can switch. The demo runner implements it; the panel
only calls it (no process or network code in widgets)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kiosk.devices.sim.network import LinkMode


class BenchControls(Protocol):
    @property
    def host_running(self) -> bool: ...

    async def set_host_running(self, running: bool) -> None:
        """Stop or start the reference host; returns once it is down / accepting."""

    # The network between kiosk and host: the runner points the kiosk's host
    # URL at a kiosk.devices.sim.network.FaultyLink in front of the host. A
    # runner without it may leave these out: the panel then shows the network
    # switch disabled (see has_network).
    @property
    def network_mode(self) -> LinkMode: ...

    async def set_network_mode(self, mode: LinkMode) -> None:
        """Put the link into `mode` (FaultyLink.set_mode); returns once it is in force."""


    # The staff console's address (docs/console.md); a runner without one leaves it out.
    @property
    def console_url(self) -> str: ...


def has_network(controls: object) -> bool:
    """Whether the runner offers the network switch."""
    return callable(getattr(controls, "set_network_mode", None)) and hasattr(controls, "network_mode")
