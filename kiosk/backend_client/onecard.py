"""The one-card as the kiosk sees the host (docs/onecard.md "Messages"): signed
messages on the bank's channel under the session's MAC key, like the card
centre's. Requests and replies are typed here; a reply takes its type once
the checks below have passed.

The sector keys arrive encrypted (common/onecard_delivery.py: a data key
wrapped under this kiosk's TMK); they are opened here into a
`SectorKeyProvider` for that card alone, held in memory for the session and
never logged nor journaled."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NotRequired, TypedDict, cast

from common.crypto import CryptoError
from common.onecard import SectorKeys
from common.onecard_delivery import open_delivery
from kiosk.backend_client.bank import BankClient
from kiosk.backend_client.signed import JsonObject
from kiosk.domain.errors import BadHostReply, OutcomeUnknown

OneCardKind = Literal["load", "bill"]
CancelStatus = Literal["cancelled", "already_cancelled", "not_found"]


class KeyDelivery(TypedDict):
    key_under_tmk: str
    kcv: str
    sectors: str


class Finish(TypedDict):
    """A pending operation the card's figures prove applied (confirm) or not (cancel)."""
    txn_id: str
    kind: OneCardKind | Literal["xfer_out", "xfer_in"]     # a transfer's leg (docs/cards.md "Transfers")
    action: Literal["confirm", "cancel"]
    amount_fen: int


class PresentRequest(TypedDict):
    uid: str
    block4: str
    block5: str
    balance_fen: int
    count: int
    black: int
    purse_refused: str | None


class PresentReply(TypedDict):
    uid: str
    result: Literal["ok", "refused"]
    code: str | None
    balance_fen: int          # the mirror
    count: int
    holder: str | None
    house_no: str | None
    finish: Finish | None


class AuthoriseExtra(TypedDict, total=False):
    """A load's bank card (with its PIN block), or a bill payment's bill."""
    pan: str
    track2: str
    expiry: str
    pin_block: str
    house_no: str
    periods: list[str]


class AuthoriseRequest(AuthoriseExtra):
    txn_id: str
    uid: str
    kind: OneCardKind
    amount_fen: int
    balance_fen: int
    count: int


class AuthoriseReply(TypedDict):
    txn_id: str
    result: Literal["approved", "declined"]
    reference: NotRequired[str]
    balance_after: NotRequired[int]
    count_after: NotRequired[int]
    code: NotRequired[str]
    tries_left: NotRequired[int | None]


class BlacklistChange(TypedDict):
    uid: str
    listed: bool
    house_no: str | None
    since: str | None          # YYYY-MM-DD: the due date of the oldest property fee unpaid
    amount_fen: int | None     # the property fees unpaid past due


class BlacklistReply(TypedDict):
    version: int
    changes: list[BlacklistChange]


class SessionKeyRing:
    """The `SectorKeyProvider` of one card's session, fed by the host's
    deliveries (read keys at presentation, the operation's at authorise)."""

    def __init__(self, uid: bytes) -> None:
        self.uid = bytes(uid)
        self._keys: dict[int, SectorKeys] = {}

    def add(self, keys: Mapping[int, SectorKeys]) -> None:
        for sector, pair in keys.items():
            held = self._keys.get(sector)
            if held is None:
                self._keys[sector] = pair
            else:     # a later delivery may add key B to a sector whose key A is held
                self._keys[sector] = SectorKeys(pair.a if any(pair.a) else held.a,
                                                pair.b if any(pair.b) else held.b)

    def sector_keys(self, uid: bytes, sector: int) -> SectorKeys:
        if bytes(uid) != self.uid or sector not in self._keys:
            raise LookupError(f"no session key for sector {sector} of this card")
        return self._keys[sector]

    def forget(self) -> None:
        self._keys.clear()

    def __repr__(self) -> str:   # keys never reach a log
        return f"SessionKeyRing({self.uid.hex().upper()}, sectors {sorted(self._keys)})"


class OneCardClient:
    def __init__(self, bank: BankClient, tmk: bytes) -> None:
        self._bank, self._tmk = bank, tmk

    async def _post(self, path: str, fields: Mapping[str, object], *, financial: bool) -> JsonObject:
        return await self._bank.post(f"/api/v1/onecard/{path}", fields, financial=financial)

    def _open(self, delivery: object, what: str) -> dict[int, SectorKeys]:
        if not isinstance(delivery, dict):
            raise BadHostReply(f"{what}: no keys")
        try:
            return open_delivery(self._tmk, delivery)
        except CryptoError as exc:
            raise BadHostReply(f"{what}: {exc}") from exc

    async def keys(self, uid: str) -> dict[int, SectorKeys] | None:
        """The read keys of a presentation; None for a card the host does not know."""
        reply = await self._post("keys", {"uid": uid}, financial=False)
        if reply.get("uid") != uid or reply.get("result") not in ("keys", "declined"):
            raise BadHostReply(f"keys reply {reply.get('result')!r}")
        if reply["result"] == "declined":
            return None
        return self._open(reply.get("keys"), "keys reply")

    async def present(self, request: PresentRequest) -> PresentReply:
        reply = await self._post("present", request, financial=False)
        finish = reply.get("finish")
        if reply.get("uid") != request["uid"] or reply.get("result") not in ("ok", "refused") \
                or not isinstance(reply.get("balance_fen"), int) or not isinstance(reply.get("count"), int) \
                or not (finish is None or isinstance(finish, dict) and finish.get("action") in ("confirm", "cancel")):
            raise BadHostReply(f"present reply {reply!r}")
        return cast(PresentReply, reply)

    async def authorise(self, request: AuthoriseRequest) -> tuple[AuthoriseReply, dict[int, SectorKeys]]:
        """Approved (with the operation's sector keys) or declined; OutcomeUnknown otherwise."""
        reply = await self._post("authorise", request, financial=True)
        if reply.get("txn_id") != request["txn_id"] or reply.get("result") not in ("approved", "declined"):
            raise OutcomeUnknown("one-card authorise reply does not match the request")
        keys: dict[int, SectorKeys] = {}
        if reply["result"] == "approved":
            try:
                keys = open_delivery(self._tmk, cast(dict[str, object], reply.get("keys")))
            except (CryptoError, TypeError, AttributeError) as exc:   # approved, but no usable keys
                raise OutcomeUnknown(f"one-card authorise keys: {exc}") from exc
        reply.pop("keys", None)
        return cast(AuthoriseReply, reply), keys

    async def confirm(self, txn_id: str, uid: str, balance_fen: int, count: int) -> str:
        """The reference of the completed operation."""
        reply = await self._post("confirm", {"txn_id": txn_id, "uid": uid, "balance_fen": balance_fen,
                                             "count": count}, financial=False)
        if reply.get("txn_id") != txn_id or reply.get("status") != "completed":
            raise BadHostReply(f"confirm reply {reply!r}")
        return str(reply.get("reference", ""))

    async def cancel(self, txn_id: str, reason: str) -> CancelStatus:
        reply = await self._post("cancel", {"txn_id": txn_id, "reason": reason[:64]}, financial=False)
        if reply.get("txn_id") != txn_id or reply.get("status") not in ("cancelled", "already_cancelled",
                                                                         "not_found"):
            raise BadHostReply(f"cancel reply {reply!r}")
        return cast(CancelStatus, str(reply["status"]))

    # --- the unpaid-fee blacklist (docs/onecard.md "Unpaid-fee blacklist") ---------------
    async def blacklist(self, since: int) -> BlacklistReply:
        """The changes since version `since`: each card once, listed (house, since, amount) or lifted."""
        reply = await self._post("blacklist", {"since": since}, financial=False)
        changes = reply.get("changes")
        if not isinstance(reply.get("version"), int) or not isinstance(changes, list) or not all(
                isinstance(c, dict) and isinstance(c.get("uid"), str) and isinstance(c.get("listed"), bool)
                for c in changes):
            raise BadHostReply(f"one-card blacklist reply {reply!r}")
        return cast(BlacklistReply, reply)

    async def unblock(self, uid: str) -> dict[int, SectorKeys] | None:
        """The key that clears the card's black flag; None while the host still lists it."""
        reply = await self._post("unblock", {"uid": uid}, financial=False)
        if reply.get("uid") != uid or reply.get("result") not in ("keys", "declined"):
            raise BadHostReply(f"unblock reply {reply.get('result')!r}")
        if reply["result"] == "declined":
            return None
        return self._open(reply.get("keys"), "unblock reply")

