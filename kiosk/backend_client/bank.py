"""The bank front-end as the kiosk sees it: sign-on, payment, reversal, and the
backup copy to the property host. Speaks only through SignedChannel."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk.backend_client.signed import NotSignedOn, SignedChannel
from common.crypto import CryptoError, unwrap_key
from kiosk.domain.errors import BadHostReply, OutcomeUnknown


@dataclass(frozen=True)
class WorkingKeys:
    pin_key_wrapped: bytes   # for the PIN pad only; the app never unwraps it
    pin_kcv: bytes
    mac_key: bytes           # unwrapped and checked
    key_version: int

    def __repr__(self) -> str:
        return f"WorkingKeys(version={self.key_version})"


class BankClient:
    def __init__(self, channel: SignedChannel, tmk: bytes) -> None:
        self._channel = channel
        self._tmk = tmk
        self.keys: WorkingKeys | None = None

    async def aclose(self) -> None:
        await self._channel.aclose()

    async def sign_on(self) -> WorkingKeys:
        reply = await self._channel.post("/api/v1/bank/sign-on", {}, self._tmk, financial=False)
        try:
            pin_key, pin_kcv = bytes.fromhex(reply["pin_key"]), bytes.fromhex(reply["pin_kcv"])
            mac_key = unwrap_key(self._tmk, bytes.fromhex(reply["mac_key"]), bytes.fromhex(reply["mac_kcv"]))
            self.keys = WorkingKeys(pin_key, pin_kcv, mac_key, int(reply["key_version"]))
        except (KeyError, ValueError, TypeError, CryptoError) as exc:
            raise BadHostReply(f"sign-on reply: {exc}") from exc
        return self.keys

    def _mak(self) -> bytes:
        if self.keys is None:
            raise NotSignedOn("no working keys yet")
        return self.keys.mac_key

    async def post(self, path: str, fields: dict[str, Any], *, financial: bool) -> dict[str, Any]:
        """A signed message under the MAC working key (the card centre uses it too)."""
        return await self._channel.post(path, fields, self._mak(), financial=financial)

    async def pay(self, fields: dict[str, Any]) -> dict[str, Any]:
        reply = await self._channel.post("/api/v1/bank/payments", fields, self._mak(), financial=True)
        if reply.get("txn_id") != fields["txn_id"] or reply.get("result") not in ("approved", "declined"):
            raise OutcomeUnknown("payment reply does not match the request")
        return reply

    async def reverse(self, txn_id: str, amount_fen: int, reason: str) -> str:
        reply = await self._channel.post("/api/v1/bank/reversals",
                                         {"txn_id": txn_id, "amount_fen": amount_fen, "reason": reason},
                                         self._mak(), financial=False)
        status = reply.get("status")
        if reply.get("txn_id") != txn_id or status not in ("reversed", "not_found", "already_reversed"):
            raise BadHostReply(f"reversal reply {reply!r}")
        return status

    async def send_backup(self, txn: dict[str, Any]) -> None:
        reply = await self._channel.post("/api/v1/property/transactions", {"txn": txn}, self._mak(),
                                         financial=False)
        if reply.get("stored") is not True:
            raise BadHostReply(f"backup reply {reply!r}")
