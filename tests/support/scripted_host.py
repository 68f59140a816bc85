"""A scripted stand-in for the host behind httpx.MockTransport, speaking the
signed protocol (docs/payments.md): it answers a sign-on under the kiosk's TMK
with fresh working keys, checks each look-up's X-MAC under the MAC key it
issued, and answers the scripted replies in turn, MACed under that key (or
not, `signed=False`: a proxy's page, a forged reply)."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from common.crypto import kcv, mac_x919, request_mac, wrap_key


@dataclass
class Scripted:
    status: int
    body: Any                 # a JSON value, or bytes sent as they are
    signed: bool = True


@dataclass
class ScriptedHost:
    tmk: bytes
    replies: list[Scripted]
    sign_ons: int = 0
    lookups: list[dict[str, Any]] = field(default_factory=list)
    mak: bytes = b""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        if request.url.path == "/api/v1/bank/sign-on":
            assert request.headers["x-mac"] == request_mac(self.tmk, request.url.path, body).hex().upper()
            self.sign_ons += 1
            pik, self.mak = secrets.token_bytes(16), secrets.token_bytes(16)
            return self._reply(200, {"pin_key": wrap_key(self.tmk, pik).hex(), "pin_kcv": kcv(pik).hex(),
                                     "mac_key": wrap_key(self.tmk, self.mak).hex(), "mac_kcv": kcv(self.mak).hex(),
                                     "key_version": self.sign_ons}, self.tmk)
        assert request.url.path == "/api/v1/households/bill" and request.method == "POST"
        assert request.headers["x-mac"] == request_mac(self.mak, request.url.path, body).hex().upper()
        self.lookups.append(json.loads(body))
        scripted = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return self._reply(scripted.status, scripted.body, self.mak if scripted.signed else None)

    @staticmethod
    def _reply(status: int, body: Any, key: bytes | None) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if key is not None:
            headers["x-mac"] = mac_x919(key, content).hex().upper()
        return httpx.Response(status, content=content, headers=headers)
