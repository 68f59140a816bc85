"""The demo kiosk (KIOSK-DEMO-01 and the demo TMK, config/kiosk.demo.toml) as the
tests run it against a reference host, and the host's own figure for a bill.

The bill look-up is a signed message: the host refuses a counter it has seen,
so every demo kiosk that talks to the session's reference host keeps its
counter in one journal for the whole session (tests/conftest.py
`demo_kiosk_journal`); a fresh journal there would be a replay."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from host.bill_lookup import screen_bill
from host.billing import household_bill
from kiosk.config import DEMO_KIOSK_CONFIG, load_kiosk_settings

DEMO = load_kiosk_settings(DEMO_KIOSK_CONFIG)


def demo_kiosk_config(folder: Path, *, journal: Path, url: str) -> Path:
    """A kiosk TOML for `kiosk bill --config`: the demo kiosk's id and keys, the
    given journal (its message counter) and host."""
    path = folder / "kiosk.toml"
    path.write_text(
        "demo = true\n"
        f"[kiosk]\nid = \"{DEMO.kiosk_id}\"\nestate_name = \"{DEMO.estate_name}\"\n"
        f"[host]\nurl = \"{url}\"\n"
        f"[security]\ntmk = \"{DEMO.tmk.hex().upper()}\"\n"
        f"[journal]\npath = \"{journal}\"\n", encoding="utf-8")
    return path


def host_bill(server: Any, house: str) -> dict[str, Any]:
    """What the host answers a kiosk for `house` today (its own code on its own
    database, no look-up: the figures a kiosk must show)."""
    with server.engine.connect() as conn:
        return screen_bill(household_bill(conn, house, server.clock.today(), server.settings))


class BillKiosk:
    """The kiosk's own bill look-up stack, as kiosk.bootstrap wires it, without a
    journal: SignedChannel (counter from `counter`), BankClient, HostSession (no
    PIN pad), HostClient, BillService."""

    def __init__(self, url: str, kiosk_id: str, tmk: bytes, *, timeout_s: float = 5.0,
                 transport: Any = None, first_counter: int = 1, verify: Any = True) -> None:
        import itertools

        from kiosk.backend_client.bank import BankClient
        from kiosk.backend_client.client import HostClient
        from kiosk.backend_client.signed import MessageCounter, SignedChannel
        from kiosk.services.bills import BillService
        from kiosk.services.session import HostSession

        self.counter = itertools.count(first_counter)
        channel = SignedChannel(url, kiosk_id, MessageCounter(lambda: next(self.counter)), timeout_s=timeout_s,
                                transport=transport, verify=verify)
        self.bank = BankClient(channel, tmk)
        self.session = HostSession(self.bank, None)
        self.host = HostClient(url, self.bank, timeout_s=timeout_s, transport=transport, verify=verify)
        self.bills = BillService(self.host, self.session)

    async def aclose(self) -> None:
        await self.bank.aclose()
        await self.host.aclose()
