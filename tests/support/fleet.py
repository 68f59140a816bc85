"""Helpers for the fleet and console tests: a host config with a small fleet,
and a kiosk that signs its messages as a real one does (X9.19 under the MAK
from sign-on, counter in the body), built on the kiosk's own crypto."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.host_env import TARIFFS_AND_BANK
from tests.support.signing import KioskSigner, SignedReply

FLEET_HOST_TOML = """
demo = true                 # the test fixtures' keys are published: demo only
[host]
estate_name = "翠湖花园"
listen_port = 0
""" + TARIFFS_AND_BANK + """
[kiosks."KIOSK-A"]
tmk = "0123456789ABCDEFFEDCBA9876543210"

[kiosks."KIOSK-B"]
tmk = "F1E2D3C4B5A69788796A5B4C3D2E1F00"

[kiosks."KIOSK-C"]
tmk = "00112233445566778899AABBCCDDEEFF"
"""

TMKS = {"KIOSK-A": bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
        "KIOSK-B": bytes.fromhex("F1E2D3C4B5A69788796A5B4C3D2E1F00"),
        "KIOSK-C": bytes.fromhex("00112233445566778899AABBCCDDEEFF")}


def status(**overrides: Any) -> dict[str, Any]:
    """A healthy kiosk's heartbeat status; overrides replace top-level fields."""
    base: dict[str, Any] = {
        "app_version": "0.1.0", "uptime_s": 120, "screen": "idle", "out_of_service": False,
        "in_transaction": False,
        "devices": {"card_reader": {"state": "ok"}, "pin_pad": {"state": "ok"}, "printer": {"state": "ok"}},
        "today": {"day": "2026-11-21", "count": 3, "approved_count": 2, "approved_fen": 150000,
                  "declined_count": 1, "reversed_count": 0, "reversed_fen": 0},
        "backlog": {"reversals": 0, "backups": 0, "oldest_reversal_age_s": None},
        "last_error": None}
    base.update(overrides)
    return base


class SignedKiosk(KioskSigner):
    """A kiosk speaking to the host over real HTTP, with heartbeats (tests/support/signing.py)."""

    def sign_on(self) -> SignedReply:
        reply = super().sign_on()
        assert reply.status == 200, reply.body
        return reply

    def heartbeat_body(self, *, acks: list[dict[str, Any]] | None = None, interval_s: float = 15,
                       counter: int | None = None, kiosk_id: str | None = None, **status_fields: Any) -> bytes:
        return self.body({"type": "heartbeat", "key_version": self.key_version, "interval_s": interval_s,
                          "status": status(**status_fields), "acks": acks or []},
                         kiosk_id=kiosk_id, counter=counter)

    def heartbeat(self, **kwargs: Any) -> SignedReply:
        return self.send("/api/v1/fleet/heartbeat", self.heartbeat_body(**kwargs), self.mak)


def wait_until(check: Any, timeout_s: float = 10.0, interval_s: float = 0.05, what: str = "condition") -> Any:
    """Poll `check()` until it returns something truthy (bounded; for state that
    another thread or process changes). Returns that value."""
    import time
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


# --- a headless kiosk: the kiosk's own FleetService and client stack --------------------
@dataclass
class HeadlessKiosk:
    """What the kiosk app runs for monitoring, without its UI: a journal (the
    message counter), BankClient for sign-on, FleetClient on its own signed
    channel, FleetService with the journal's status."""
    fleet: Any
    bank: Any
    journal: Any
    channels: list[Any]

    async def close(self) -> None:
        await self.fleet.stop()
        for channel in self.channels:
            await channel.aclose()
        self.journal.close()


async def headless_kiosk(host_url: str, kiosk_id: str, folder: Any, tmk: bytes, *, interval_s: float = 0.2,
                         sign_on: bool = True, start: bool = True, **options: Any) -> HeadlessKiosk:
    from kiosk.backend_client.bank import BankClient
    from kiosk.backend_client.fleet import FleetClient
    from kiosk.backend_client.signed import MessageCounter, SignedChannel
    from kiosk.services.fleet.service import FleetService
    from kiosk.services.fleet.status import JournalStatus
    from kiosk.services.journal import Journal

    journal = Journal(folder / "journal.sqlite3")
    counter = MessageCounter(journal.next_counter)
    bank_channel = SignedChannel(host_url, kiosk_id, counter, timeout_s=5)
    fleet_channel = SignedChannel(host_url, kiosk_id, counter, timeout_s=5)
    bank = BankClient(bank_channel, tmk)
    if sign_on:
        await bank.sign_on()
    options.setdefault("state_path", folder / "fleet-state.json")
    service = FleetService(FleetClient(fleet_channel, lambda: bank.keys), JournalStatus(journal, now=journal.clock.now),
                           interval_s=interval_s, sign_on=bank.sign_on, **options)
    if start:
        await service.start()
    return HeadlessKiosk(service, bank, journal, [bank_channel, fleet_channel])
