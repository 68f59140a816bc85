"""What the bench panel can switch. The demo runner implements it; the panel
only calls it (no process or network code in widgets)."""
from __future__ import annotations

from typing import Protocol


class BenchControls(Protocol):
    @property
    def host_running(self) -> bool: ...

    async def set_host_running(self, running: bool) -> None:
        """Stop or start the reference host; returns once it is down / accepting."""
