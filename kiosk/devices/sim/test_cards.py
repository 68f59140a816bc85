"""The demo test cards (config/test-cards.toml) as the device bench's wallet:
each card's magnetic stripe (tracks 1 and 2, ISO/IEC 7813) built from its
fields. Demo data only: these PANs and PINs are published on purpose."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.domain.card import mask_pan
from kiosk.domain.money import Money

TEST_CARDS_FILE = Path(__file__).resolve().parents[3] / "config" / "test-cards.toml"

# Discretionary data after the service code: PVKI 0 + PVV 000 (nothing checks
# it; the same value as the example in docs/payments.md).
DISCRETIONARY = "0000"


@dataclass(frozen=True, slots=True)
class DemoCard:
    name: str
    pan: str = field(repr=False)
    expiry: str            # YYMM
    service_code: str
    pin: str = field(repr=False)
    balance: Money
    daily_limit: Money
    status: str            # active | blocked

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)

    @property
    def track2(self) -> str:
        """;PAN=YYMM<svc><discretionary>?"""
        return f";{self.pan}={self.expiry}{self.service_code}{DISCRETIONARY}?"

    @property
    def track1(self) -> str:
        """%B<PAN>^<SURNAME/GIVEN>^YYMM<svc><discretionary>?  Track 1 carries only
        upper-case ASCII, so the holder name is a Latin placeholder built from
        the card's English label (e.g. ICBC/DEMO CARD)."""
        return (f"%B{self.pan}^{self.holder_name}^{self.expiry}{self.service_code}"
                f"{DISCRETIONARY}000000?")

    @property
    def holder_name(self) -> str:
        english = self.name.split("/")[-1].split("(")[0]
        bank = re.sub(r"[^A-Z ]", "", english.upper()).split()
        return f"{bank[0] if bank else 'TEST'}/DEMO CARD"[:26]


@dataclass(frozen=True, slots=True)
class DemoBadSwipe:
    name: str
    track2: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class DemoWallet:
    cards: tuple[DemoCard, ...]
    bad_swipes: tuple[DemoBadSwipe, ...]

    def by_pan(self, pan: str) -> DemoCard:
        for card in self.cards:
            if card.pan == pan:
                return card
        raise KeyError(mask_pan(pan))


def load_test_cards(path: Path | str = TEST_CARDS_FILE) -> DemoWallet:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    cards = tuple(
        DemoCard(name=c["name"], pan=c["pan"], expiry=c["expiry"],
                 service_code=c["service_code"], pin=c["pin"],
                 balance=Money.parse(c["balance"]), daily_limit=Money.parse(c["daily_limit"]),
                 status=c["status"])
        for c in data.get("card", []))
    bad = tuple(DemoBadSwipe(name=b["name"], track2=b["track2"])
                for b in data.get("bad_swipe", []))
    return DemoWallet(cards, bad)
