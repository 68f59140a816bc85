"""The key side of the prepaid meter user card (DESIGN §5): each meter's PK
(purchase file), RK (meter return) and UK (card update) diversified from the
masters MKP, MKR and MKU, and every MAC made with them. Shared by the parties
that hold meter keys -- the vending host, the virtual card (UK) and the
simulated meter (PK, RK) -- and the tests. The kiosk's terminal never imports
this module (pyproject's `terminal-holds-no-card-keys`)."""
from __future__ import annotations

from dataclasses import dataclass, replace

from common.crypto import diversify, mac_pboc
from common.meter_card import (CHALLENGE_LEN, PURCHASE_LEN, SECURE_WRITE_HEADER, MeterReturn, Purchase,
                               check_meter_number)


@dataclass(frozen=True)
class MeterKeys:
    """Three 16-byte keys: the masters, or one meter's diversified keys."""
    pk: bytes    # signs EF 01 (the meter checks it)
    rk: bytes    # signs EF 02 (the vending host checks it)
    uk: bytes    # the secure write of EF 01 (the card checks it)

    @classmethod
    def from_hex(cls, pk: str, rk: str, uk: str) -> MeterKeys:
        return cls(*(bytes.fromhex(k) for k in (pk, rk, uk)))

    def for_meter(self, meter: str) -> MeterKeys:
        """A meter's own keys, diversified as a CPU card's by F = M ‖ 00 00."""
        f = bytes.fromhex(check_meter_number(meter)) + bytes(2)
        return MeterKeys(*(diversify(k, f) for k in (self.pk, self.rk, self.uk)))

    def __repr__(self) -> str:   # keys never reach a log
        return "MeterKeys(…)"


# DEMO masters MKP, MKR, MKU from DESIGN §5 (test keys, published so that
# independent implementations interoperate with the demo). Never for production.
DEMO_METER_MASTERS = MeterKeys.from_hex(
    pk="6E1B94C2A7305DF8B1E4097A3C2D5F61", rk="29D5A0E7C36B184F5A2E9C0B7D4F1386",
    uk="B3087F4D1EA9C6250D7B3E8A4F91C26E")


def meter_mac(key: bytes, data: bytes) -> bytes:
    """DESIGN §5's MAC(): the PBOC MAC, a 16-byte key folded as for the TAC key."""
    return mac_pboc(key, data)


def sign_purchase(pk: bytes, image: Purchase) -> Purchase:
    """EF 01 with its MAC(PK, the 16 bytes before)."""
    return replace(image, mac=meter_mac(pk, image.body()))


def purchase_mac_ok(pk: bytes, image: Purchase) -> bool:
    return not image.blank and meter_mac(pk, image.body()) == image.mac


def sign_return(rk: bytes, image: MeterReturn) -> MeterReturn:
    """EF 02 with its MAC(RK, the 17 bytes before) (the meter's part)."""
    return replace(image, mac=meter_mac(rk, image.body()))


def return_mac_ok(rk: bytes, image: MeterReturn) -> bool:
    """Whether a meter with this RK wrote EF 02 (a blank file never verifies)."""
    return not image.blank and meter_mac(rk, image.body()) == image.mac


def write_mac(uk: bytes, challenge: bytes, image: bytes) -> bytes:
    """The secure write's MAC: MAC(UK, random ‖ 00000000 ‖ 04 D6 81 00 18 ‖ data 20);
    the random and four zero bytes are the first block, the IV stays zero."""
    if len(challenge) != CHALLENGE_LEN or len(image) != PURCHASE_LEN:
        raise ValueError(f"the challenge is {CHALLENGE_LEN} bytes and the image {PURCHASE_LEN}")
    return meter_mac(uk, bytes(challenge) + bytes(4) + SECURE_WRITE_HEADER + bytes(image))
