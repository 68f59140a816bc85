"""Helpers for the fleet and console tests: a host config with a small fleet,
and a kiosk that signs its messages as a real one does (X9.19 under the MAK
from sign-on, counter in the body), built on the kiosk's own crypto."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from kiosk.cards.crypto import mac_x919, pin_block_format0, tdes_encrypt, unwrap_key

FLEET_HOST_TOML = """
[host]
estate_name = "翠湖花园"
listen_port = 0

[tariffs.water]
tiers = [{up_to = 15, price = "5.00"}, {up_to = 22, price = "7.00"}, {price = "9.00"}]

[tariffs.electricity]
tiers = [{up_to = 180, price = "0.4883"}, {up_to = 350, price = "0.5383"}, {price = "0.7883"}]

[tariffs.gas]
tiers = [{price = "2.63"}]

[tariffs.property]
price_per_m2 = "2.50"

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


@dataclass
class Reply:
    status: int
    body: bytes
    mac: str | None
    key: bytes | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def mac_ok(self) -> bool:
        return self.mac is not None and self.key is not None and \
            mac_x919(self.key, self.body) == bytes.fromhex(self.mac)


@dataclass
class SignedKiosk:
    """A kiosk speaking to the host over real HTTP (or any httpx transport)."""
    base_url: str
    kiosk_id: str
    tmk: bytes
    counter: int = 0
    mak: bytes | None = None
    pik: bytes | None = None
    key_version: int = 0
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def close(self) -> None:
        self.http.close()

    def body(self, fields: dict[str, Any], *, kiosk_id: str | None = None, counter: int | None = None) -> bytes:
        if counter is None:
            self.counter += 1
            counter = self.counter
        message = {"kiosk_id": kiosk_id or self.kiosk_id, "counter": counter, **fields}
        return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def send(self, path: str, raw: bytes, key: bytes | None, *, mac: str | None = None) -> Reply:
        headers = {"Content-Type": "application/json"}
        if mac is None and key is not None:
            mac = mac_x919(key, raw).hex().upper()
        if mac is not None:
            headers["X-MAC"] = mac
        response = self.http.post(self.base_url + path, content=raw, headers=headers)
        return Reply(response.status_code, response.content, response.headers.get("x-mac"), key)

    def sign_on(self) -> Reply:
        reply = self.send("/api/v1/bank/sign-on", self.body({}), self.tmk)
        assert reply.status == 200, reply.body
        keys = reply.json
        self.mak = unwrap_key(self.tmk, bytes.fromhex(keys["mac_key"]), bytes.fromhex(keys["mac_kcv"]))
        self.pik = unwrap_key(self.tmk, bytes.fromhex(keys["pin_key"]), bytes.fromhex(keys["pin_kcv"]))
        self.key_version = keys["key_version"]
        return reply

    def heartbeat_body(self, *, acks: list[dict[str, Any]] | None = None, interval_s: float = 15,
                       counter: int | None = None, kiosk_id: str | None = None, **status_fields: Any) -> bytes:
        return self.body({"type": "heartbeat", "key_version": self.key_version, "interval_s": interval_s,
                          "status": status(**status_fields), "acks": acks or []},
                         kiosk_id=kiosk_id, counter=counter)

    def heartbeat(self, **kwargs: Any) -> Reply:
        return self.send("/api/v1/fleet/heartbeat", self.heartbeat_body(**kwargs), self.mak)

    def pay(self, txn_id: str, house_no: str, amount_fen: int, periods: list[str], card: Any) -> Reply:
        assert self.pik is not None
        block = tdes_encrypt(self.pik, pin_block_format0(card.pin, card.pan)).hex().upper()
        fields = {"txn_id": txn_id, "house_no": house_no, "amount_fen": amount_fen, "periods": periods,
                  "pan": card.pan, "track2": card.track2, "expiry": card.expiry, "pin_block": block,
                  "local_time": "2026-11-21T10:31:05"}
        return self.send("/api/v1/bank/payments", self.body(fields), self.mak)

    def reverse(self, txn_id: str, amount_fen: int) -> Reply:
        return self.send("/api/v1/bank/reversals",
                         self.body({"txn_id": txn_id, "amount_fen": amount_fen, "reason": "timeout"}), self.mak)

    def backup(self, txn: dict[str, Any]) -> Reply:
        return self.send("/api/v1/property/transactions", self.body({"txn": txn}), self.mak)


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
    from kiosk.backend_client.signed import SignedChannel
    from kiosk.services.fleet import FleetService, JournalStatus
    from kiosk.services.journal import Journal

    journal = Journal(folder / "journal.sqlite3")
    bank_channel = SignedChannel(host_url, kiosk_id, journal.next_counter, timeout_s=5)
    fleet_channel = SignedChannel(host_url, kiosk_id, journal.next_counter, timeout_s=5)
    bank = BankClient(bank_channel, tmk)
    if sign_on:
        await bank.sign_on()
    options.setdefault("state_path", folder / "fleet-state.json")
    service = FleetService(FleetClient(fleet_channel, lambda: bank.keys), JournalStatus(journal),
                           interval_s=interval_s, sign_on=bank.sign_on, **options)
    if start:
        await service.start()
    return HeadlessKiosk(service, bank, journal, [bank_channel, fleet_channel])
