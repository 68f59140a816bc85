"""The card centre as the kiosk sees it (docs/cards.md §5): signed messages on
the same channel and under the same MAC key as the bank's (BankClient)."""
from __future__ import annotations

from typing import Any

from kiosk.backend_client.bank import BankClient
from kiosk.domain.errors import BadHostReply, OutcomeUnknown

_FINISHED = ("completed", "cancelled", "not_found", "already_cancelled")
_STATUSES = ("authorised", "completed", "cancelled", "not_found")
STATUS_MAX_IDS = 50   # the card centre answers at most this many ids a message


class CardCentreClient:
    def __init__(self, bank: BankClient) -> None:
        self._bank = bank

    async def _post(self, path: str, fields: dict[str, Any], *, financial: bool) -> dict[str, Any]:
        return await self._bank.post(f"/api/v1/cards/{path}", fields, financial=financial)

    async def seen(self, serial: str) -> dict[str, Any]:
        reply = await self._post("seen", {"serial": serial}, financial=False)
        if reply.get("serial") != serial or not isinstance(reply.get("pending"), list):
            raise BadHostReply(f"seen reply {reply!r}")
        return reply

    async def blacklist(self, since: int) -> dict[str, Any]:
        reply = await self._post("blacklist", {"since": since}, financial=False)
        if not isinstance(reply.get("version"), int) or not isinstance(reply.get("changes"), list):
            raise BadHostReply(f"blacklist reply {reply!r}")
        return reply

    async def status(self, txn_ids: list[str]) -> list[dict[str, Any]]:
        """What became of this kiosk's own transactions: one answer per id,
        {txn_id, kind, status: authorised|completed|cancelled|not_found, reference}."""
        if not 0 < len(txn_ids) <= STATUS_MAX_IDS:
            raise ValueError(f"ask about 1..{STATUS_MAX_IDS} transactions at a time")
        reply = await self._post("status", {"txn_ids": txn_ids}, financial=False)
        txns = reply.get("txns")
        if not isinstance(txns, list) or not all(isinstance(t, dict) and t.get("status") in _STATUSES
                                                 for t in txns) \
                or sorted(str(t.get("txn_id")) for t in txns) != sorted(set(txn_ids)):
            raise BadHostReply(f"status reply {reply!r}")
        return txns

    async def authorise(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        """kind: load | unload | purchase. Approved or declined; OutcomeUnknown otherwise."""
        reply = await self._post(f"{kind}/authorise", fields, financial=True)
        if reply.get("txn_id") != fields["txn_id"] or reply.get("result") not in ("approved", "declined"):
            raise OutcomeUnknown(f"{kind} authorise reply does not match the request")
        return reply

    async def confirm(self, kind: str, txn_id: str, proof: dict[str, str]) -> dict[str, Any]:
        reply = await self._post(f"{kind}/confirm", {"txn_id": txn_id, **proof}, financial=False)
        if reply.get("txn_id") != txn_id or reply.get("status") != "completed":
            raise BadHostReply(f"{kind} confirm reply {reply!r}")
        return reply

    async def cancel(self, kind: str, txn_id: str, reason: str) -> str:
        reply = await self._post(f"{kind}/cancel", {"txn_id": txn_id, "reason": reason[:64]}, financial=False)
        if reply.get("txn_id") != txn_id or reply.get("status") not in _FINISHED:
            raise BadHostReply(f"{kind} cancel reply {reply!r}")
        return str(reply["status"])
