"""Prepaid meter vending as the kiosk sees it (docs/host-api.md "Prepaid
meters", docs/meters.md): signed messages on the bank's channel and MAC key
(BankClient). The kiosk holds no meter key: it sends the card's files as read
and the card's challenge, and writes what the host answers.

Requests and replies are typed here (TypedDicts); a reply takes its type once
the checks below have passed."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NotRequired, TypedDict, cast

from kiosk.backend_client.bank import BankClient
from kiosk.backend_client.signed import JsonObject
from kiosk.domain.errors import BadHostReply, OutcomeUnknown

_HEX = frozenset("0123456789ABCDEFabcdef")


class QuoteLine(TypedDict):
    tier: int
    quantity: int            # 0.01 units
    unit_price: str          # yuan per unit, as the host's tariff says
    amount_fen: int


class Quote(TypedDict):
    quantity: int
    amount_fen: int
    lines: list[QuoteLine]
    bought_this_year: int
    sale_id: NotRequired[str]


class PendingSale(TypedDict):
    """The meter's sale paid and not yet on the card: write `image` again."""
    sale_id: str
    image: str
    count: int
    quantity: int
    amount_fen: int


class CheckRequest(TypedDict, total=False):
    ef01: str                # hex, as read
    ef02: str
    meter: str               # a blank EF 01's meter (12 digits)
    quantity: int
    amount_fen: int
    sale_id: str


class CheckReply(TypedDict):
    result: Literal["ok", "pending", "refused"]
    code: NotRequired[str]   # why refused
    meter: NotRequired[str]
    utility: NotRequired[str]
    house_no: NotRequired[str]
    card_state: NotRequired[str]
    count: NotRequired[int]
    total: NotRequired[int]
    remaining: NotRequired[int]
    cumulative: NotRequired[int]
    last_applied: NotRequired[int]
    status_bits: NotRequired[int]
    status: NotRequired[list[str]]
    applied: NotRequired[bool]
    hoarding_max: NotRequired[int]
    meter_time: NotRequired[str | None]
    pending: NotRequired[PendingSale | None]
    quote: NotRequired[Quote]


class AuthoriseRequest(TypedDict):
    sale_id: str
    amount_fen: int
    pan: str
    track2: str
    expiry: str
    pin_block: str


class WalletAuthoriseRequest(TypedDict):
    """A sale the wallet's purchase paid (its confirm paid the sale): the image."""
    sale_id: str
    amount_fen: int
    wallet_txn_id: str


class AuthoriseReply(TypedDict):
    sale_id: str
    result: Literal["approved", "declined"]
    reference: NotRequired[str]
    image: NotRequired[str]          # the signed EF 01, hex
    count: NotRequired[int]
    quantity: NotRequired[int]
    amount_fen: NotRequired[int]
    business_day: NotRequired[str]
    code: NotRequired[str]
    tries_left: NotRequired[int | None]


def _hex(value: object, size: int) -> bool:
    return isinstance(value, str) and len(value) == 2 * size and set(value) <= _HEX


class MeterClient:
    def __init__(self, bank: BankClient) -> None:
        self._bank = bank

    async def _post(self, path: str, fields: Mapping[str, object], *, financial: bool) -> JsonObject:
        return await self._bank.post(f"/api/v1/meters/{path}", fields, financial=financial)

    async def check(self, request: CheckRequest) -> CheckReply:
        reply = await self._post("check", request, financial=False)
        result = reply.get("result")
        if result not in ("ok", "pending", "refused"):
            raise BadHostReply(f"meter check reply {reply!r}")
        if result != "refused" or "meter" in reply:
            if not isinstance(reply.get("meter"), str) or not isinstance(reply.get("remaining"), int):
                raise BadHostReply(f"meter check reply {reply!r}")
        pending = reply.get("pending")
        if result == "pending" and not (isinstance(pending, dict) and _hex(pending.get("image"), 20)):
            raise BadHostReply(f"meter check reply {reply!r}")
        quote = reply.get("quote")
        if quote is not None:
            lines = quote.get("lines") if isinstance(quote, dict) else None
            if not isinstance(quote, dict) or not isinstance(lines, list) \
                    or not all(isinstance(x, dict) for x in lines) \
                    or sum(int(x.get("amount_fen", 0)) for x in lines) != quote.get("amount_fen") \
                    or sum(int(x.get("quantity", 0)) for x in lines) != quote.get("quantity"):
                raise BadHostReply("the quote's lines do not add up")
        return cast(CheckReply, reply)

    async def authorise(self, request: AuthoriseRequest | WalletAuthoriseRequest) -> AuthoriseReply:
        """Approved (with the signed image) or declined; OutcomeUnknown otherwise."""
        reply = await self._post("authorise", request, financial=True)
        if reply.get("sale_id") != request["sale_id"] or reply.get("result") not in ("approved", "declined"):
            raise OutcomeUnknown("meter authorise reply does not match the request")
        if reply["result"] == "approved" and (not _hex(reply.get("image"), 20)
                                              or reply.get("amount_fen") != request["amount_fen"]):
            raise OutcomeUnknown("meter authorise approved without its image or for another amount")
        return cast(AuthoriseReply, reply)

    async def sign_write(self, sale_id: str, challenge: bytes) -> bytes:
        reply = await self._post("sign-write", {"sale_id": sale_id, "challenge": challenge.hex().upper()},
                                 financial=False)
        if reply.get("sale_id") != sale_id or not _hex(reply.get("mac"), 4):
            raise BadHostReply(f"sign-write reply {reply!r}")
        return bytes.fromhex(str(reply["mac"]))

    async def confirm(self, sale_id: str, ef01: bytes) -> None:
        reply = await self._post("confirm", {"sale_id": sale_id, "ef01": ef01.hex().upper()}, financial=False)
        if reply.get("sale_id") != sale_id or reply.get("status") != "confirmed":
            raise BadHostReply(f"meter confirm reply {reply!r}")

    async def cancel(self, sale_id: str, reason: str, ef01: bytes | None = None) -> None:
        fields: dict[str, object] = {"sale_id": sale_id, "reason": reason[:64]}
        if ef01 is not None:
            fields["ef01"] = ef01.hex().upper()
        reply = await self._post("cancel", fields, financial=False)
        if reply.get("sale_id") != sale_id or reply.get("status") != "reversed":
            raise BadHostReply(f"meter cancel reply {reply!r}")
