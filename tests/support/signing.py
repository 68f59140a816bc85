"""A small kiosk-side signing client for the host's signed JSON endpoints
(sign-on, backup copies, card centre, fleet: tests/host, tests/fleet,
tests/console), as a kiosk would speak to them (docs/host-api.md; bill
payments go over ISO 8583: tests/support/bank8583.py): builds the JSON body, MACs the exact
bytes (common.crypto.mac_x919, the kiosk's own implementation), sends it
over real HTTP, and verifies the reply's X-MAC. The PIN pad's part (a format 0
PIN block encrypted under the PIK) is done here too."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from common.crypto import kcv, mac_x919, pin_block_format0, request_mac, tdes_encrypt, unwrap_key


@dataclass
class SignedReply:
    status: int
    body: bytes
    mac: str | None
    key: bytes | None          # the key the request was MACed under

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def mac_ok(self) -> bool:
        """The reply's X-MAC verifies over its exact body bytes under the request's key."""
        if self.mac is None or self.key is None:
            return False
        return mac_x919(self.key, self.body) == bytes.fromhex(self.mac)


@dataclass
class KioskSigner:
    base_url: str
    kiosk_id: str
    tmk: bytes
    counter: int = 0
    pik: bytes | None = None
    mak: bytes | None = None
    key_version: int = 0
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def close(self) -> None:
        self.http.close()

    def body(self, fields: dict[str, Any], counter: int | None = None, *, kiosk_id: str | None = None) -> bytes:
        """`kiosk_id`: claim to be another kiosk (impersonation tests)."""
        if counter is None:
            self.counter += 1
            counter = self.counter
        message = {"kiosk_id": kiosk_id or self.kiosk_id, "counter": counter, **fields}
        return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def send(self, path: str, raw: bytes, key: bytes | None, *, mac: str | None = None) -> SignedReply:
        """POST raw bytes with X-MAC = mac, or the MAC of path and raw under key."""
        headers = {"Content-Type": "application/json"}
        if mac is None and key is not None:
            mac = request_mac(key, path, raw).hex().upper()
        if mac is not None:
            headers["X-MAC"] = mac
        response = self.http.post(self.base_url + path, content=raw, headers=headers)
        return SignedReply(response.status_code, response.content, response.headers.get("x-mac"), key)

    def post(self, path: str, fields: dict[str, Any], *, counter: int | None = None) -> SignedReply:
        return self.send(path, self.body(fields, counter), self.mak)

    # --- the messages -----------------------------------------------------------
    def sign_on(self) -> SignedReply:
        reply = self.send("/api/v1/bank/sign-on", self.body({}), self.tmk)
        if reply.status == 200 and reply.mac_ok:
            keys = reply.json
            self.pik = unwrap_key(self.tmk, bytes.fromhex(keys["pin_key"]), bytes.fromhex(keys["pin_kcv"]))
            self.mak = unwrap_key(self.tmk, bytes.fromhex(keys["mac_key"]), bytes.fromhex(keys["mac_kcv"]))
            assert kcv(self.mak).hex().upper() == keys["mac_kcv"]
            self.key_version = keys["key_version"]
        return reply

    def pin_block(self, pin: str, pan: str) -> str:
        assert self.pik is not None, "sign on first"
        return tdes_encrypt(self.pik, pin_block_format0(pin, pan)).hex().upper()

    def backup(self, txn: dict[str, Any]) -> SignedReply:
        return self.post("/api/v1/property/transactions", {"txn": txn})
