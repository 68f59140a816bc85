"""The issuer's side of the estate one-card (DESIGN §5 "MIFARE Classic 1K"):
sector keys A and B and the issuance key IK, diversified per card UID from the
master keys, and the block 5 auth code. Held by the card centre (next round),
the virtual card and the tests; the kiosk's terminal code never imports it
[terminal-holds-no-card-keys]: it is handed a `SectorKeyProvider`."""
from __future__ import annotations

from dataclasses import dataclass

from common.crypto import mac_pboc, tdes_encrypt
from common.onecard import SECTOR0_KEY_A, SECTORS, UID_LEN, SectorKeys, invert


@dataclass(frozen=True)
class OneCardMasterKeys:
    mka: bytes      # key A master
    mkb: bytes      # key B master
    mki: bytes      # issuance key master

    @classmethod
    def from_hex(cls, mka: str, mkb: str, mki: str) -> OneCardMasterKeys:
        return cls(bytes.fromhex(mka), bytes.fromhex(mkb), bytes.fromhex(mki))

    def __repr__(self) -> str:   # keys never reach a log
        return "OneCardMasterKeys(…)"


# DEMO master keys from DESIGN §5: published on purpose so that independent
# terminals and cards interoperate with the demo. Never for production.
DEMO_ONECARD_KEYS = OneCardMasterKeys.from_hex(
    mka="8A2F0C6B51D3E7940F6E2A1C9B4D7385", mkb="3C91E5A07B2D48F6A1093D5E7C6B2F18",
    mki="D47A1E9C0B6F2853E9A4C17D305B8E26")


def diversifier(uid: bytes, sector: int) -> bytes:
    """D = UID 4 ‖ n 1 ‖ 4D 31 00."""
    if len(uid) != UID_LEN or not 0 <= sector < SECTORS:
        raise ValueError("a 4-byte UID and a sector 0..15")
    return uid + bytes([sector]) + b"\x4D\x31\x00"


def sector_keys(master: OneCardMasterKeys, uid: bytes, sector: int) -> SectorKeys:
    d = diversifier(uid, sector)
    key_a = SECTOR0_KEY_A if sector == 0 else tdes_encrypt(master.mka, d)[:6]
    return SectorKeys(key_a, tdes_encrypt(master.mkb, d)[:6])


def issuance_key(master: OneCardMasterKeys, uid: bytes) -> bytes:
    """IK = 3DES(MKI, D₁) ‖ 3DES(MKI, ~D₁), D₁ the diversifier of sector 1."""
    d = diversifier(uid, 1)
    return tdes_encrypt(master.mki, d) + tdes_encrypt(master.mki, invert(d))


def auth_code(master: OneCardMasterKeys, uid: bytes, block4: bytes) -> bytes:
    """Block 5's code: MAC(IK, UID ‖ block 4), IK folded as for the TAC key."""
    return mac_pboc(issuance_key(master, uid), uid + block4)


class IssuerKeyProvider:
    """A `SectorKeyProvider` that derives every key from the master keys: the
    card centre's, the tests' and the bench's."""

    def __init__(self, master: OneCardMasterKeys = DEMO_ONECARD_KEYS) -> None:
        self._master = master

    def sector_keys(self, uid: bytes, sector: int) -> SectorKeys:
        return sector_keys(self._master, uid, sector)
