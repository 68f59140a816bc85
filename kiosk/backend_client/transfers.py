"""Transfers between two cards as the kiosk sees the host (docs/cards.md
"Transfers"): signed messages on the bank's channel under the session's MAC
key, like the card centre's and the one-card's. A one-card leg's sector keys
arrive encrypted and are opened here (common/onecard_delivery.py)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NotRequired, TypedDict, cast

from common.crypto import CryptoError
from common.onecard import SectorKeys
from common.onecard_delivery import open_delivery
from kiosk.backend_client.bank import BankClient
from kiosk.backend_client.signed import JsonObject
from kiosk.domain.errors import BadHostReply, OutcomeUnknown

CardKind = Literal["cpu", "onecard"]


class LegReply(TypedDict):
    """An approved leg: a CPU card's MAC (mac1 to debit, mac2 to credit) or a
    one-card's figures after it (its keys opened beside)."""
    txn_id: str
    result: Literal["approved", "declined"]
    leg_txn_id: NotRequired[str]
    reference: NotRequired[str]
    mac1: NotRequired[str]
    mac2: NotRequired[str]
    balance_after: NotRequired[int]
    count_after: NotRequired[int]
    code: NotRequired[str]


class Owed(TypedDict):
    txn_id: str
    role: Literal["debit", "credit"]
    amount_fen: int
    src_wallet: str | None
    dst_wallet: str | None
    reference: str
    leg: dict[str, object] | None


class TransferClient:
    def __init__(self, bank: BankClient, tmk: bytes) -> None:
        self._bank, self._tmk = bank, tmk

    async def _post(self, path: str, fields: Mapping[str, object], *, financial: bool) -> JsonObject:
        return await self._bank.post(f"/api/v1/transfers/{path}", fields, financial=financial)

    def _keys(self, reply: JsonObject, what: str) -> dict[int, SectorKeys]:
        delivery = reply.get("keys")
        if delivery is None:
            return {}
        if not isinstance(delivery, dict):
            raise BadHostReply(f"{what}: keys malformed")
        try:
            return open_delivery(self._tmk, delivery)
        except CryptoError as exc:
            raise BadHostReply(f"{what}: {exc}") from exc

    async def authorise(self, request: Mapping[str, object]) -> tuple[LegReply, dict[int, SectorKeys]]:
        reply = await self._post("authorise", request, financial=True)
        if reply.get("txn_id") != request["txn_id"] or reply.get("result") not in ("approved", "declined"):
            raise OutcomeUnknown("transfer authorise reply does not match the request")
        return cast(LegReply, reply), self._keys(reply, "transfer authorise")

    async def credit(self, txn_id: str, figures: Mapping[str, object]) -> tuple[LegReply, dict[int, SectorKeys]]:
        reply = await self._post("credit", {"txn_id": txn_id, **figures}, financial=True)
        if reply.get("txn_id") != txn_id or reply.get("result") not in ("approved", "declined"):
            raise OutcomeUnknown("transfer credit reply does not match the request")
        return cast(LegReply, reply), self._keys(reply, "transfer credit")

    async def proof(self, step: Literal["debit", "confirm"], txn_id: str, proof: Mapping[str, object]) -> str:
        """The source's debit or the destination's credit, proven: the transfer's state after."""
        reply = await self._post(step, {"txn_id": txn_id, **proof}, financial=False)
        if reply.get("txn_id") != txn_id or reply.get("status") not in ("debited", "completed"):
            raise BadHostReply(f"transfer {step} reply {reply!r}")
        return str(reply["status"])

    async def cancel(self, txn_id: str, reason: str) -> str:
        reply = await self._post("cancel", {"txn_id": txn_id, "reason": reason[:32]}, financial=False)
        if reply.get("txn_id") != txn_id or reply.get("status") not in (
                "cancelled", "credit_owed", "already_cancelled", "not_found"):
            raise BadHostReply(f"transfer cancel reply {reply!r}")
        return str(reply["status"])

    async def owed(self, card_kind: CardKind, card: str) -> list[Owed]:
        reply = await self._post("owed", {"card_kind": card_kind, "card": card}, financial=False)
        owed = reply.get("owed")
        if not isinstance(owed, list):
            raise BadHostReply(f"transfer owed reply {reply!r}")
        return cast(list[Owed], owed)
