"""The signed HTTP channel's sign-on and the backup copy to the property host
(SignedChannel only), and the types of a bill payment, its reply and its
reversal status, which the bank link (bank8583/, ISO 8583: the only way a
payment or a reversal leaves the kiosk) takes and returns.

Each message's fields are typed here (TypedDicts: the dict the channel sends
as JSON, so the bytes on the wire are what the host reads); a reply takes its
type once the checks below have passed."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict, cast

from kiosk.backend_client.signed import JsonObject, Refusals, SignedChannel
from common.crypto import CryptoError, unwrap_key
from kiosk.domain.errors import BadHostReply, NotSignedOn


@dataclass(frozen=True)
class WorkingKeys:
    pin_key_wrapped: bytes   # for the PIN pad only; the app never unwraps it
    pin_kcv: bytes
    mac_key: bytes           # unwrapped and checked
    key_version: int

    def __repr__(self) -> str:
        return f"WorkingKeys(version={self.key_version})"


class SignOnReply(TypedDict):
    pin_key: str       # hex, under the TMK: for the PIN pad
    pin_kcv: str
    mac_key: str       # hex, under the TMK
    mac_kcv: str
    key_version: int


class PaymentRequest(TypedDict):
    """A bill payment by bank card (docs/payments.md)."""
    txn_id: str
    house_no: str
    amount_fen: int
    periods: list[str]
    pan: str
    track2: str
    expiry: str
    pin_block: str     # hex, ISO 9564 format 0 under the PIN key
    local_time: str    # the kiosk's clock, ISO seconds


class PaymentReply(TypedDict):
    txn_id: str
    result: Literal["approved", "declined"]
    reference: NotRequired[str | None]
    auth_code: NotRequired[str | None]
    code: NotRequired[str]               # why declined
    tries_left: NotRequired[int | None]  # PIN tries left, on a wrong PIN
    business_day: NotRequired[str]       # the day the host booked it on
    amount_fen: NotRequired[int]


ReversalStatus = Literal["reversed", "not_found", "already_reversed"]


class BackupCopy(TypedDict):
    """A finished transaction's copy for the property host (store and forward):
    a bill payment's or a wallet transaction's; the journal's outbox holds it."""
    txn_id: str
    amount_fen: int
    result: str        # the journal state it ended in
    at: str
    house_no: NotRequired[str | None]
    masked_pan: NotRequired[str | None]
    reference: NotRequired[str | None]
    auth_code: NotRequired[str]
    business_day: NotRequired[str]
    kind: NotRequired[str]             # wallet transactions: wallet_load | wallet_unload | wallet_purchase
    wallet: NotRequired[str | None]
    card: NotRequired[str | None]


class BankClient:
    def __init__(self, channel: SignedChannel, tmk: bytes) -> None:
        self._channel = channel
        self._tmk = tmk
        self.keys: WorkingKeys | None = None

    async def aclose(self) -> None:
        await self._channel.aclose()

    async def sign_on(self) -> WorkingKeys:
        # its fields are checked as they are parsed: a missing or mistyped one fails below
        reply = cast(SignOnReply, await self._channel.post("/api/v1/bank/sign-on", {}, self._tmk, financial=False))
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

    async def post(self, path: str, fields: Mapping[str, object], *, financial: bool,
                   refusals: Refusals | None = None) -> JsonObject:
        """A signed message under the MAC working key (the card centre and the
        bill look-up use it too)."""
        return await self._channel.post(path, fields, self._mak(), financial=financial, refusals=refusals)

    async def send_backup(self, txn: BackupCopy) -> None:
        reply = await self._channel.post("/api/v1/property/transactions", {"txn": txn}, self._mak(),
                                         financial=False)
        if reply.get("stored") is not True:
            raise BadHostReply(f"backup reply {reply!r}")

