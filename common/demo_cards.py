"""The demo test cards (config/test-cards.toml) as the device bench's wallet:
each card's magnetic stripe (tracks 1 and 2, ISO/IEC 7813) built from its
fields. Demo data only: these PANs and PINs are published on purpose."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from common.settings import CONFIG_DIR, load_toml, Section
from common.bank_card import luhn_ok, mask_pan
from common.money import Money

TEST_CARDS_FILE = CONFIG_DIR / "test-cards.toml"

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


# The purse and passbook maximums a card is personalised with (docs/cards.md §2).
EP_MAX = Money.parse("1000.00")
ED_MAX = Money.parse("50000.00")


@dataclass(frozen=True, slots=True)
class DemoIcCard:
    """A CPU card with the e-purse (docs/cards.md)."""
    name: str
    serial: str            # application serial number, 20 hex digits (upper case)
    holder: str
    media: str             # contact | contactless: the reader the bench offers it on
    pin: str = field(repr=False)
    ed_balance: Money
    ep_balance: Money
    status: str            # active | lost | blacklisted
    pin_tries_left: int = 3
    ed_max: Money = ED_MAX
    ep_max: Money = EP_MAX


# The one-card purse is 3 bytes of fen (docs/onecard.md)
ONECARD_MAX = Money(0xFFFFFF)


@dataclass(frozen=True, slots=True)
class DemoOneCardEntry:
    """An estate one-card (MIFARE Classic 1K, docs/onecard.md) as the bench's
    virtual card is personalised: `balance` and `count` are the card's own (the
    host's mirror may disagree: the rolled-back demo card)."""
    name: str
    uid: str               # 8 hex digits (upper case)
    serial: int            # block 4's card serial
    holder: str
    house: str
    balance: Money
    count: int
    issued: date
    expiry: date
    black: bool = False
    household_id: int = 0


@dataclass(frozen=True, slots=True)
class DemoMeterCard:
    """A prepaid meter's user card and the bench's simulated meter it goes into
    (docs/meters.md); the meters are the host's seeded ones (host.meters.store.DEMO_METERS)."""
    name: str
    meter: str             # 12 digits
    utility: str           # electricity | water | gas
    house_no: str
    maximum: Money         # the simulated meter's hoarding limit, in units (Money's two decimals: 0.01 units)
    low_credit: Money      # it warns below this


@dataclass(frozen=True, slots=True)
class DemoWallet:
    cards: tuple[DemoCard, ...]
    bad_swipes: tuple[DemoBadSwipe, ...]
    ic_cards: tuple[DemoIcCard, ...] = ()
    onecards: tuple[DemoOneCardEntry, ...] = ()
    meter_cards: tuple[DemoMeterCard, ...] = ()

    def onecard(self, uid: str) -> DemoOneCardEntry:
        for card in self.onecards:
            if card.uid == uid.upper():
                return card
        raise KeyError(uid)

    def ic_card(self, serial: str) -> DemoIcCard:
        for card in self.ic_cards:
            if card.serial == serial.upper():
                return card
        raise KeyError(serial)

    def by_pan(self, pan: str) -> DemoCard:
        for card in self.cards:
            if card.pan == pan:
                return card
        raise KeyError(mask_pan(pan))


def load_test_cards(path: Path | str = TEST_CARDS_FILE) -> DemoWallet:
    """Read and check the file; a bad entry is a ConfigError naming file, key and reason.
    The one reader of this file: the bench's wallet and the host's bank accounts both use it."""
    root = load_toml(path)
    cards = []
    for i, item in enumerate(root.get("card", list, [])):
        c = Section(root.file, item, f"card[{i}].")
        cards.append(DemoCard(
            name=c.get("name", str),
            pan=c.get("pan", str, check=lambda v: None if v.isdigit() and 13 <= len(v) <= 19 and luhn_ok(v)
                      else "must be 13-19 digits with a valid check digit"),
            expiry=c.get("expiry", str, check=lambda v: None if len(v) == 4 and v.isdigit()
                         and 1 <= int(v[2:]) <= 12 else "must be YYMM"),
            service_code=c.get("service_code", str, "101"),
            pin=c.get("pin", str, check=lambda v: None if v.isdigit() and 4 <= len(v) <= 12
                      else "must be 4-12 digits"),
            balance=Money.parse(c.get("balance", str)),
            daily_limit=Money.parse(c.get("daily_limit", str)),
            status=c.get("status", str, "active",
                         check=lambda v: None if v in ("active", "blocked") else "must be active or blocked")))
        c.reject_unknown()
    bad = []
    for i, item in enumerate(root.get("bad_swipe", list, [])):
        b = Section(root.file, item, f"bad_swipe[{i}].")
        bad.append(DemoBadSwipe(name=b.get("name", str), track2=b.get("track2", str)))
        b.reject_unknown()
    ic = []
    for i, item in enumerate(root.get("ic_card", list, [])):
        c = Section(root.file, item, f"ic_card[{i}].")
        ed, ep = Money.parse(c.get("ed_balance", str)), Money.parse(c.get("ep_balance", str))
        ic.append(DemoIcCard(
            name=c.get("name", str),
            serial=c.get("serial", str, check=lambda v: None if re.fullmatch(r"[0-9A-Fa-f]{20}", v)
                         else "must be 20 hex digits").upper(),
            holder=c.get("holder", str),
            media=c.get("media", str, check=lambda v: None if v in ("contact", "contactless")
                        else "must be contact or contactless"),
            pin=c.get("pin", str, check=lambda v: None if v.isdigit() and 4 <= len(v) <= 12
                      else "must be 4-12 digits"),
            ed_balance=ed, ep_balance=ep,
            status=c.get("status", str, "active", check=lambda v: None if v in ("active", "lost", "blacklisted")
                         else "must be active, lost or blacklisted"),
            pin_tries_left=c.get("pin_tries_left", int, 3, check=lambda v: None if 0 <= v <= 3
                                 else "must be 0 to 3")))
        if not (Money(0) <= ed <= ED_MAX and Money(0) <= ep <= EP_MAX):
            raise c.error("ed_balance", f"balances must be within 0..{ED_MAX} (ED) and 0..{EP_MAX} (EP)")
        c.reject_unknown()
    meters = []
    for i, item in enumerate(root.get("meter_card", list, [])):
        m = Section(root.file, item, f"meter_card[{i}].")
        meters.append(DemoMeterCard(
            name=m.get("name", str),
            meter=m.get("meter", str, check=lambda v: None if re.fullmatch(r"[0-9]{12}", v) else "must be 12 digits"),
            utility=m.get("utility", str, check=lambda v: None if v in ("electricity", "water", "gas")
                          else "must be electricity, water or gas"),
            house_no=m.get("house_no", str),
            maximum=Money.parse(m.get("maximum", str)), low_credit=Money.parse(m.get("low_credit", str))))
        m.reject_unknown()
    onecards = tuple(_onecard(Section(root.file, item, f"onecard[{i}]."))
                     for i, item in enumerate(root.get("onecard", list, [])))
    root.reject_unknown()
    return DemoWallet(tuple(cards), tuple(bad), tuple(ic), onecards=onecards, meter_cards=tuple(meters))


def _iso_date(v: str) -> str | None:
    try:
        date.fromisoformat(v)
    except ValueError:
        return "must be a date, YYYY-MM-DD"
    return None


def _onecard(c: Section) -> DemoOneCardEntry:
    balance = Money.parse(c.get("balance", str))
    if not Money(0) <= balance <= ONECARD_MAX:
        raise c.error("balance", f"must be within 0..{ONECARD_MAX} (the purse's 3 bytes)")
    card = DemoOneCardEntry(
        name=c.get("name", str),
        uid=c.get("uid", str, check=lambda v: None if re.fullmatch(r"[0-9A-Fa-f]{8}", v)
                  else "must be 8 hex digits").upper(),
        serial=c.get("serial", int, check=lambda v: None if 0 < v <= 0xFFFFFFFF else "must be 1..4294967295"),
        holder=c.get("holder", str),
        house=c.get("house", str),
        balance=balance,
        count=c.get("count", int, 0, check=lambda v: None if 0 <= v <= 0xFFFF else "must be 0..65535"),
        issued=date.fromisoformat(c.get("issued", str, check=_iso_date)),
        expiry=date.fromisoformat(c.get("expiry", str, check=_iso_date)),
        black=c.get("black", bool, False),
        household_id=c.get("household_id", int, 0, check=lambda v: None if v >= 0 else "must be 0 or more"))
    c.reject_unknown()
    return card
