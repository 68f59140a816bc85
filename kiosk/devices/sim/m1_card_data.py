"""The virtual MIFARE Classic 1K's data: a one-card's personalisation (the 64
blocks of a fresh card per DESIGN §5, shared by the tests, the CLI and the
bench), the access-condition tables the card enforces, and its saved state.
kiosk/devices/sim/m1_card.py is the card that answers the pseudo-APDUs."""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from datetime import date
from typing import Any

from common.onecard import (BLACK_OK, BLOCKS_PER_SECTOR, DEMO_MAP, SECTORS, Flag, KeyType, RECORD_SLOTS, SectorMap,
                            trailer)
from common.onecard_blocks import (CardKind, CardStatus, Door, EstateData, Issuance, PublicInfo, auth_block,
                                   encode_value)
from common.onecard_keys import DEMO_ONECARD_KEYS, OneCardMasterKeys, auth_code, sector_keys

BLOCKS = SECTORS * BLOCKS_PER_SECTOR
# Block 0 after UID ‖ BCC: SAK 08, ATQA 0004 (as a 1K stores it), then
# manufacturer bytes (ours: "ESTATE1C").
_MANUFACTURER = bytes.fromhex("080400") + b"ESTATE1C"

A, B, AB, NONE = frozenset({KeyType.A}), frozenset({KeyType.B}), frozenset(KeyType), frozenset[KeyType]()


@dataclass(frozen=True)
class DataRights:
    read: frozenset[KeyType]
    write: frozenset[KeyType]
    increment: frozenset[KeyType]
    decrement: frozenset[KeyType]       # also restore and transfer


@dataclass(frozen=True)
class TrailerRights:
    write_key_a: frozenset[KeyType]
    read_access: frozenset[KeyType]
    write_access: frozenset[KeyType]
    read_key_b: frozenset[KeyType]
    write_key_b: frozenset[KeyType]


# The MIFARE Classic 1K datasheet's tables, by C1C2C3.
DATA_RIGHTS = {
    0b000: DataRights(AB, AB, AB, AB), 0b010: DataRights(AB, NONE, NONE, NONE),
    0b100: DataRights(AB, B, NONE, NONE), 0b110: DataRights(AB, B, B, AB),
    0b001: DataRights(AB, NONE, NONE, AB), 0b011: DataRights(B, B, NONE, NONE),
    0b101: DataRights(B, NONE, NONE, NONE), 0b111: DataRights(NONE, NONE, NONE, NONE),
}
TRAILER_RIGHTS = {
    0b000: TrailerRights(A, A, NONE, A, A), 0b010: TrailerRights(NONE, A, NONE, A, NONE),
    0b100: TrailerRights(B, AB, NONE, NONE, B), 0b110: TrailerRights(NONE, AB, NONE, NONE, NONE),
    0b001: TrailerRights(A, A, A, A, A), 0b011: TrailerRights(B, AB, B, NONE, B),
    0b101: TrailerRights(NONE, AB, B, NONE, NONE), 0b111: TrailerRights(NONE, AB, NONE, NONE, NONE),
}


@dataclass(frozen=True)
class OneCardProfile:
    """What a fresh one-card holds. Defaults: the demo city 2201, a resident's
    active card, pointer 8 and count 0 (a new card), flag done."""
    uid: bytes
    issued: date
    expiry: date
    balance: int = 0
    city: str = "2201"
    serial: int = 1
    kind: CardKind = CardKind.RESIDENT
    status: CardStatus = CardStatus.ACTIVE
    house: str = ""
    household_id: int = 0
    holder: str = ""
    door_groups: int = 0
    door_valid_until: date | None = None      # default: the expiry
    black: int = BLACK_OK
    pointer: int = RECORD_SLOTS - 1
    count: int = 0


def personalise(profile: OneCardProfile, master: OneCardMasterKeys = DEMO_ONECARD_KEYS,
                sector_map: SectorMap = DEMO_MAP) -> list[bytes]:
    """The 64 blocks of a fresh card. ValueError on a field the layout refuses
    (a name over 16 GB18030 bytes, a balance over 3 bytes, …)."""
    p, m = profile, sector_map
    if len(p.uid) != 4:
        raise ValueError("a MIFARE Classic 1K UID is 4 bytes")
    if not 0 <= p.balance <= 0xFFFFFF:
        raise ValueError("the balance is 0..16,777,215 fen")
    blocks = [bytes(16)] * BLOCKS
    blocks[0] = p.uid + bytes([functools.reduce(operator.xor, p.uid)]) + _MANUFACTURER
    blocks[1] = m.directory_block()
    b4 = Issuance(p.city, p.serial, p.kind, p.status, p.issued, p.expiry).encode()
    blocks[m.issuance_block] = b4
    blocks[m.auth_block] = auth_block(auth_code(master, p.uid, b4))
    blocks[m.purse_block] = blocks[m.backup_block] = encode_value(p.balance, m.purse_block)
    blocks[m.public_block], blocks[m.public_inverse_block] = PublicInfo(
        p.pointer, p.count, Flag.DONE, p.black).blocks()
    blocks[m.estate_block], blocks[m.name_block] = EstateData(p.house, p.household_id, p.holder).encode()
    blocks[m.door_block] = Door(p.door_groups, p.door_valid_until or p.expiry).encode()
    for sector in range(SECTORS):
        blocks[sector * BLOCKS_PER_SECTOR + 3] = trailer(sector_keys(master, p.uid, sector), m.access(sector))
    return blocks


@dataclass
class M1State:
    uid: str                    # 8 hex digits, upper case
    blocks: list[str]           # 64 × 32 hex digits
    label: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"format": 1, "type": "m1", "uid": self.uid, "label": self.label, "blocks": self.blocks}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> M1State:
        if data.get("type") != "m1" or len(data.get("blocks", ())) != BLOCKS:
            raise ValueError("not a virtual MIFARE Classic 1K file")
        return cls(str(data["uid"]), [str(b) for b in data["blocks"]], str(data.get("label", "")))
