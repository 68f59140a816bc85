"""The card centre as the kiosk sees it (docs/cards.md §5): signed messages on
the same channel and under the same MAC key as the bank's (BankClient).

Requests and replies are typed here (TypedDicts: what the channel sends and
receives as JSON); a reply takes its type once the checks below have passed."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NotRequired, TypedDict, cast

from kiosk.backend_client.bank import BankClient
from kiosk.backend_client.signed import JsonObject
from kiosk.domain.errors import BadHostReply, OutcomeUnknown

_FINISHED = ("completed", "cancelled", "not_found", "already_cancelled")
_STATUSES = ("authorised", "completed", "cancelled", "not_found")
STATUS_MAX_IDS = 50   # the card centre answers at most this many ids a message

WalletKind = Literal["load", "unload", "purchase"]
CancelStatus = Literal["completed", "cancelled", "not_found", "already_cancelled"]


class PendingTxn(TypedDict):
    """A transaction on this card authorised at the card centre, never confirmed
    nor cancelled (its card write may or may not have happened)."""
    txn_id: str
    kind: WalletKind
    txn_type: int
    wallet: str
    amount_fen: int
    counter: int
    kiosk_id: str


class SeenReply(TypedDict):
    serial: str
    status: str              # e.g. active | lost | blacklisted | unknown
    holder: str | None
    pending: list[PendingTxn]


class BlacklistChange(TypedDict):
    serial: str
    listed: bool


class BlacklistReply(TypedDict):
    version: int
    changes: list[BlacklistChange]


class TxnStatus(TypedDict):
    txn_id: str
    kind: WalletKind | None
    status: Literal["authorised", "completed", "cancelled", "not_found"]
    reference: str | None


class AuthoriseExtra(TypedDict, total=False):
    """What a kind of authorise needs besides the card's answer: the bank card
    for a load (with its PIN block) or an unload, the bill for a purchase."""
    pan: str
    track2: str
    expiry: str
    pin_block: str
    house_no: str
    periods: list[str]
    meter_sale: str          # a purchase paying a quoted meter sale instead of the bill (docs/meters.md)


class AuthoriseRequest(AuthoriseExtra):
    """A load, an unload or a purchase: the card's INITIALIZE answer and its extra."""
    txn_id: str
    serial: str
    wallet: str
    amount_fen: int
    balance_fen: int
    card_counter: int
    random: str
    term_id: str
    when: str
    mac1: NotRequired[str]          # load, unload: the card's MAC1
    term_txn_no: NotRequired[int]   # purchase


class AuthoriseReply(TypedDict):
    txn_id: str
    result: Literal["approved", "declined"]
    mac2: NotRequired[str]           # load, unload: for the card's write
    mac1: NotRequired[str]           # purchase: the issuer's MAC1 for DEBIT
    reference: NotRequired[str | None]
    code: NotRequired[str]           # why declined
    tries_left: NotRequired[int | None]


class CardProof(TypedDict, total=False):
    """What the card answered to its write: a load's TAC, an unload's MAC3, a
    purchase's TAC and MAC2."""
    tac: str
    mac2: str
    mac3: str


class ConfirmReply(TypedDict):
    txn_id: str
    status: Literal["completed"]
    reference: NotRequired[str | None]


class CardCentreClient:
    def __init__(self, bank: BankClient) -> None:
        self._bank = bank

    async def _post(self, path: str, fields: Mapping[str, object], *, financial: bool) -> JsonObject:
        return await self._bank.post(f"/api/v1/cards/{path}", fields, financial=financial)

    async def seen(self, serial: str) -> SeenReply:
        reply = await self._post("seen", {"serial": serial}, financial=False)
        if reply.get("serial") != serial or not isinstance(reply.get("pending"), list):
            raise BadHostReply(f"seen reply {reply!r}")
        return cast(SeenReply, reply)

    async def blacklist(self, since: int) -> BlacklistReply:
        reply = await self._post("blacklist", {"since": since}, financial=False)
        if not isinstance(reply.get("version"), int) or not isinstance(reply.get("changes"), list):
            raise BadHostReply(f"blacklist reply {reply!r}")
        return cast(BlacklistReply, reply)

    async def status(self, txn_ids: list[str]) -> list[TxnStatus]:
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
        return cast(list[TxnStatus], txns)

    async def authorise(self, kind: str, request: AuthoriseRequest) -> AuthoriseReply:
        """kind: load | unload | purchase. Approved or declined; OutcomeUnknown otherwise."""
        reply = await self._post(f"{kind}/authorise", request, financial=True)
        if reply.get("txn_id") != request["txn_id"] or reply.get("result") not in ("approved", "declined"):
            raise OutcomeUnknown(f"{kind} authorise reply does not match the request")
        return cast(AuthoriseReply, reply)

    async def confirm(self, kind: str, txn_id: str, proof: CardProof) -> ConfirmReply:
        reply = await self._post(f"{kind}/confirm", {"txn_id": txn_id, **proof}, financial=False)
        if reply.get("txn_id") != txn_id or reply.get("status") != "completed":
            raise BadHostReply(f"{kind} confirm reply {reply!r}")
        return cast(ConfirmReply, reply)

    async def cancel(self, kind: str, txn_id: str, reason: str) -> CancelStatus:
        reply = await self._post(f"{kind}/cancel", {"txn_id": txn_id, "reason": reason[:64]}, financial=False)
        if reply.get("txn_id") != txn_id or reply.get("status") not in _FINISHED:
            raise BadHostReply(f"{kind} cancel reply {reply!r}")
        return cast(CancelStatus, str(reply["status"]))
