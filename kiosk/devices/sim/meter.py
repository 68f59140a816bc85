"""A simulated card-operated prepaid meter (DESIGN §5, docs/meters.md): pure
logic and its state, no UI (the bench section comes later).

`take(card)` is the meter reading a user card put into it, over the card's
APDUs (`process`, as the virtual meter card answers them): SELECT, READ EF 01,
the contract's acceptance rules, then the plain write of EF 02 with the RK MAC
and the time of the injected clock. A purchase whose count is the last applied
count + 1 and that keeps the meter within its maximum adds its quantity; the
same count again adds nothing; any other count, a bad PK MAC or a purchase over
the maximum adds nothing but EF 02 is still written; another meter's card (or
utility) gets nothing written. `consume(units)` runs the meter down: low credit
below `low_credit`, supply cut at zero, reopened by the next purchase applied.

Choices where the contract is silent (ours): the meter applies a purchase to its
own memory before it writes EF 02, so a card pulled between the two keeps the
units in the meter and the next insertion (same count: already applied) brings
EF 02 up to date; a card pulled during a take raises the "card pulled early"
bit, reported in the next EF 02 written and then cleared; tamper stays set until
`set_tamper(False)` and does not cut the supply."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from common.clock import Clock
from common.meter_card import (DF_NAME, MAX_UNITS, PURCHASE_LEN, RETURN_LEN, SFI_PURCHASE, SFI_RETURN,
                               MeterReturn, MeterStatus, Purchase, Utility, check_meter_number, next_count)
from common.meter_keys import DEMO_METER_MASTERS, MeterKeys, purchase_mac_ok, sign_return
from kiosk.devices.sim.cpu_card_data import CardPulled

_OK = b"\x90\x00"


class CardLink(Protocol):
    """The card as the meter's contacts see it (VirtualMeterCard.process)."""

    def process(self, apdu: bytes) -> bytes: ...


class Outcome(Enum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already applied"
    WRONG_COUNT = "not the next purchase count"
    BAD_MAC = "the purchase's MAC does not verify"
    OVER_MAXIMUM = "over the meter's maximum"
    OTHER_METER = "another meter's card"
    NOT_A_METER_CARD = "not a meter user card"
    CARD_PULLED = "the card was pulled early"


@dataclass(frozen=True)
class TakeResult:
    outcome: Outcome
    added: int = 0                 # 0.01 units added to the meter
    returned: bool = False         # EF 02 written onto the card


@dataclass
class MeterState:
    meter: str
    utility: int
    maximum: int                   # 0.01 units: the hoarding limit
    low_credit: int                # warn below this
    remaining: int = 0
    cumulative: int = 0
    last_count: int = 0
    supply_cut: bool = True
    tamper: bool = False
    pulled_early: bool = False


class SimulatedMeter:
    def __init__(self, state: MeterState, clock: Clock, masters: MeterKeys = DEMO_METER_MASTERS,
                 path: Path | None = None) -> None:
        check_meter_number(state.meter)
        self.state = state
        self.path = path
        self._clock = clock
        self._keys = masters.for_meter(state.meter)

    @classmethod
    def create(cls, meter: str, utility: Utility, *, maximum: int, low_credit: int, clock: Clock,
               remaining: int = 0, cumulative: int = 0, last_count: int = 0,
               masters: MeterKeys = DEMO_METER_MASTERS, path: Path | None = None) -> SimulatedMeter:
        if not 0 <= remaining <= maximum <= MAX_UNITS:
            raise ValueError("remaining must be within 0..maximum")
        state = MeterState(meter, int(Utility(utility)), maximum, low_credit, remaining, cumulative,
                           last_count, supply_cut=remaining == 0)
        made = cls(state, clock, masters, path)
        made._save()
        return made

    @classmethod
    def load(cls, path: Path, clock: Clock, masters: MeterKeys = DEMO_METER_MASTERS) -> SimulatedMeter:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data.pop("format", None)
        return cls(MeterState(**data), clock, masters, Path(path))

    @property
    def status(self) -> MeterStatus:
        s = self.state
        status = MeterStatus.NONE
        for on, bit in ((s.supply_cut, MeterStatus.SUPPLY_CUT), (s.remaining < s.low_credit, MeterStatus.LOW_CREDIT),
                        (s.tamper, MeterStatus.TAMPER), (s.pulled_early, MeterStatus.PULLED_EARLY)):
            if on:
                status |= bit
        return status

    # --- the card slot ---------------------------------------------------------------
    def take(self, card: CardLink) -> TakeResult:
        """Read the card, apply its purchase if the rules allow, write EF 02."""
        try:
            if card.process(bytes([0x00, 0xA4, 0x04, 0x00, len(DF_NAME)]) + DF_NAME) != _OK:
                return TakeResult(Outcome.NOT_A_METER_CARD)
            answer = card.process(bytes([0x00, 0xB0, 0x80 | SFI_PURCHASE, 0x00, PURCHASE_LEN]))
            if answer[-2:] != _OK or len(answer) != PURCHASE_LEN + 2:
                return TakeResult(Outcome.NOT_A_METER_CARD)
            raw = answer[:PURCHASE_LEN]
            if raw[:6] != bytes.fromhex(self.state.meter) or raw[6] != self.state.utility:
                return TakeResult(Outcome.OTHER_METER)       # never write another meter's card
            outcome, added = self._apply(Purchase.decode(raw))
            return TakeResult(outcome, added, self._write_return(card))
        except CardPulled:
            self.state.pulled_early = True
            self._save()
            return TakeResult(Outcome.CARD_PULLED)

    def _apply(self, purchase: Purchase) -> tuple[Outcome, int]:
        s = self.state
        if not purchase_mac_ok(self._keys.pk, purchase):
            return Outcome.BAD_MAC, 0
        if purchase.count == s.last_count:
            return Outcome.ALREADY_APPLIED, 0
        if purchase.count != next_count(s.last_count):
            return Outcome.WRONG_COUNT, 0
        if s.remaining + purchase.quantity > s.maximum:
            return Outcome.OVER_MAXIMUM, 0
        s.remaining += purchase.quantity
        s.last_count = purchase.count
        if s.remaining > 0:
            s.supply_cut = False              # a purchase reopens the valve / relay
        self._save()                          # in the meter's memory before the card hears of it
        return Outcome.APPLIED, purchase.quantity

    def _write_return(self, card: CardLink) -> bool:
        s = self.state
        image = sign_return(self._keys.rk, MeterReturn(
            remaining=s.remaining, cumulative=s.cumulative, last_count=s.last_count, status=self.status,
            time=self._clock.now().replace(microsecond=0)))
        answer = card.process(bytes([0x00, 0xD6, 0x80 | SFI_RETURN, 0x00, RETURN_LEN]) + image.encode())
        if answer != _OK:
            return False
        if s.pulled_early:                    # reported once
            s.pulled_early = False
            self._save()
        return True

    # --- use -------------------------------------------------------------------------
    def consume(self, units: int) -> int:
        """Use up to `units` (0.01 units); returns what was used. Nothing flows
        while the supply is cut; reaching zero cuts it."""
        if isinstance(units, bool) or not isinstance(units, int) or units < 0:
            raise ValueError("units must be a whole number >= 0")
        s = self.state
        if s.supply_cut:
            return 0
        used = min(units, s.remaining)
        s.remaining -= used
        s.cumulative = (s.cumulative + used) % (MAX_UNITS + 1)
        if s.remaining == 0:
            s.supply_cut = True
        self._save()
        return used

    def set_tamper(self, on: bool) -> None:
        self.state.tamper = on
        self._save()

    def mark_pulled_early(self) -> None:
        self.state.pulled_early = True
        self._save()

    # --- storage -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"format": 1, **asdict(self.state)}

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        os.replace(tmp, self.path)
