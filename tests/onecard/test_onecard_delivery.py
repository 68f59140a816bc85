"""How the sector keys travel (common/onecard_delivery.py): sealed under a
fresh data key wrapped under the kiosk's TMK; only that kiosk opens them, and
the bytes on the wire hold no key."""
from __future__ import annotations

import pytest

from common.crypto import CryptoError
from common.onecard import SectorKeys
from common.onecard_delivery import open_delivery, seal
from common.onecard_keys import DEMO_ONECARD_KEYS, sector_keys

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
OTHER_TMK = bytes.fromhex("F1E2D3C4B5A69788796A5B4C3D2E1F00")
DEK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
UID = bytes.fromhex("B1C20001")


def test_a_delivery_opens_to_the_keys_sealed_and_shows_none_of_them() -> None:
    two, six = sector_keys(DEMO_ONECARD_KEYS, UID, 2), sector_keys(DEMO_ONECARD_KEYS, UID, 6)
    sealed = seal(TMK, DEK, {2: (two.a, two.b), 6: (six.a, None)}).as_json()
    assert open_delivery(TMK, sealed) == {2: two, 6: SectorKeys(six.a, bytes(6))}
    wire = "".join(sealed.values())
    assert not [k for k in (two.a, two.b, six.a, six.b, DEK) if k.hex().upper() in wire]


def test_another_kiosks_tmk_or_a_damaged_delivery_opens_nothing() -> None:
    sealed = seal(TMK, DEK, {2: (bytes(range(6)), None)}).as_json()
    with pytest.raises(CryptoError, match="check value"):
        open_delivery(OTHER_TMK, sealed)
    with pytest.raises(CryptoError):
        open_delivery(TMK, {**sealed, "sectors": sealed["sectors"][:-2]})
    with pytest.raises(CryptoError):
        open_delivery(TMK, {"kcv": sealed["kcv"], "sectors": sealed["sectors"]})
