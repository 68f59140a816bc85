"""The one-card messages' fields and the session keys they carry (docs/onecard.md
"Messages"). Hex arrives in either case and is kept upper case; a bad field is
a BadRequest (400, nothing changes)."""
from __future__ import annotations

import re
from typing import Any

from host.api_spec import JSON, TXN_ID, enum, hex_bytes, integer, nullable, obj
from host.bank.keys import new_key
from host.bank.security import BadRequest, Context, int_field
from common.onecard import COUNT_MODULO, DEMO_MAP, MAX_AMOUNT, SectorMap
from common.onecard_delivery import seal
from common.onecard_keys import OneCardMasterKeys, sector_keys

_UID = re.compile(r"^[0-9A-Fa-f]{8}$")

UID = hex_bytes(4)
BALANCE = integer(0, MAX_AMOUNT)
COUNT = integer(0, COUNT_MODULO - 1)
KEYS = obj({"key_under_tmk": hex_bytes(16), "kcv": hex_bytes(3), "sectors": {"type": "string"}})
FINISH = nullable(obj({"txn_id": TXN_ID, "kind": enum("load", "bill", "xfer_out", "xfer_in"),  # xfer: a transfer's leg
                       "action": enum("confirm", "cancel"),
                       "amount_fen": integer(1, MAX_AMOUNT)}))
CARD_STATE: JSON = {"uid": UID, "balance_fen": BALANCE, "count": COUNT}


def uid_field(body: dict[str, Any]) -> str:
    value = body.get("uid")
    if not isinstance(value, str) or not _UID.match(value):
        raise BadRequest("uid must be the card's 4-byte UID, 8 hex digits")
    return value.upper()


def block_field(body: dict[str, Any], name: str) -> bytes:
    value = body.get(name)
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Fa-f]{32}", value):
        raise BadRequest(f"{name} must be a block, 32 hex digits")
    return bytes.fromhex(value)


def balance_field(body: dict[str, Any], name: str = "balance_fen") -> int:
    value = int_field(body, name)
    if value > MAX_AMOUNT:
        raise BadRequest(f"{name} must fit in 3 bytes (0..{MAX_AMOUNT})")
    return value


def count_field(body: dict[str, Any]) -> int:
    value = int_field(body, "count")
    if value >= COUNT_MODULO:
        raise BadRequest(f"count must be 0..{COUNT_MODULO - 1}")
    return value


def amount_field(body: dict[str, Any]) -> int:
    value = int_field(body, "amount_fen", 1)
    if value > MAX_AMOUNT:
        raise BadRequest(f"amount_fen must be 1..{MAX_AMOUNT}")
    return value


def masters(ctx: Context) -> OneCardMasterKeys:
    keys = ctx.settings.onecard_keys
    if keys is None:      # the routes answer 503 before this; a guard for direct callers
        raise BadRequest("this host has no one-card keys")
    return keys


# --- the session keys (common/onecard_delivery.py says how they travel) --------
def read_sectors(m: SectorMap = DEMO_MAP) -> dict[int, str]:
    """What a presentation reads (and a recovery writes): key A of issuance,
    wallet (read, decrement, restore), records, public info and estate data.
    Never key B of the wallet: only a credit needs it (increment)."""
    return {s: "A" for s in (m.issuance, m.wallet, *m.records, m.public_info, m.estate)}


def operation_sectors(credit: bool, m: SectorMap = DEMO_MAP) -> dict[int, str]:
    """What steps 3–7 of one authorised operation need: key A of records and
    public info, and the wallet's key A (a debit) or A and B (a credit)."""
    return {m.wallet: "AB" if credit else "A", **{s: "A" for s in m.records}, m.public_info: "A"}


def deliver(ctx: Context, uid: str, wanted: dict[int, str]) -> dict[str, str]:
    master, raw_uid = masters(ctx), bytes.fromhex(uid)
    keys: dict[int, tuple[bytes | None, bytes | None]] = {}
    for sector, which in wanted.items():
        pair = sector_keys(master, raw_uid, sector)
        keys[sector] = (pair.a if "A" in which else None, pair.b if "B" in which else None)
    return seal(ctx.tmk, new_key(), keys).as_json()


def card_text(balance: int, count: int) -> str:
    return f"{balance} fen after {count}"
