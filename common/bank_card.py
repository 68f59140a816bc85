"""Bank magnetic-stripe cards: ISO/IEC 7813 track 2 and the masked PAN.
The full PAN and track data live only in memory and go only to the bank
front-end; everything printable shows first 6 / last 4 at most."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from common.errors import BadSwipe

# ;PAN=YYMMSSS<discretionary>?  (start/end sentinels optional: readers differ)
_TRACK2 = re.compile(r"^;?(\d{13,19})=(\d{4})(\d{3})(\d*)\??$", re.ASCII)   # ASCII digits only


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_pan(pan: str) -> str:
    """First 6 / last 4: 622202******0128."""
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


@dataclass(frozen=True, slots=True)
class CardSwipe:
    pan: str = field(repr=False)
    expiry: str          # YYMM as on the stripe
    service_code: str
    track2: str = field(repr=False)

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)

    def __repr__(self) -> str:  # never the PAN or track data, even in a traceback
        return f"CardSwipe({self.masked_pan}, expiry={self.expiry})"

    __str__ = __repr__


def parse_track2(track2: str) -> CardSwipe:
    """Raises BadSwipe (never anything else) for a partial or garbled track."""
    match = _TRACK2.match(track2.strip())
    if not match:
        raise BadSwipe("track 2 unreadable")
    pan, expiry, service, _ = match.groups()
    if not luhn_ok(pan):
        raise BadSwipe("PAN check digit wrong")
    month = int(expiry[2:])
    if not 1 <= month <= 12:
        raise BadSwipe("expiry month out of range")
    clean = track2.strip()
    return CardSwipe(pan=pan, expiry=expiry, service_code=service,
                     track2=clean if clean.startswith(";") else ";" + clean.rstrip("?") + "?")
