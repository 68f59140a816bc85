"""The simulated prepaid meter (kiosk/devices/sim/meter.py): CARDS-examples (e)
byte for byte, the contract's acceptance rules, running down, and its flags."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from common.clock import ManualClock
from common.meter_card import MeterStatus, Purchase, Utility
from common.meter_keys import DEMO_METER_MASTERS, sign_purchase
from kiosk.devices.sim.meter import Outcome, SimulatedMeter
from kiosk.devices.sim.meter_card import VirtualMeterCard
from tests.support.meters import EF01_7, EF01_8, EF02_C, KEYS, METER, seeded_card

TAKEN_AT = datetime(2026, 12, 5, 18, 0, 0)
EF02_E = "000034D00001DA88000800261205180000E1CA4897000000"


def meter_of_example_c(clock: ManualClock | None = None, path: Path | None = None) -> SimulatedMeter:
    """Meter 310100012345 as (c) shows it: max 2,000.00 kWh, low below 50.00."""
    return SimulatedMeter.create(METER, Utility.ELECTRICITY, maximum=200000, low_credit=5000,
                                 clock=clock or ManualClock(TAKEN_AT), remaining=3520, cumulative=121480,
                                 last_count=7, path=path)


def test_e_the_meter_takes_purchase_8_and_writes_its_return() -> None:
    meter, card = meter_of_example_c(), seeded_card(EF01_8)
    assert meter.status == MeterStatus.LOW_CREDIT
    result = meter.take(card)
    assert (result.outcome, result.added, result.returned) == (Outcome.APPLIED, 10000, True)
    assert (meter.state.remaining, meter.state.last_count, meter.status) == (13520, 8, MeterStatus.NONE)
    assert card.ef02().hex().upper() == EF02_E
    again = meter.take(card)                       # inserted again: nothing added, same bytes
    assert (again.outcome, again.added) == (Outcome.ALREADY_APPLIED, 0)
    assert meter.state.remaining == 13520 and card.ef02().hex().upper() == EF02_E


@pytest.mark.parametrize(("purchase", "outcome"), [
    (sign_purchase(KEYS.pk, replace(EF01_8, count=9)), Outcome.WRONG_COUNT),
    (sign_purchase(KEYS.pk, replace(EF01_8, count=6)), Outcome.WRONG_COUNT),
    (replace(EF01_8, mac=bytes.fromhex("67D4B42F")), Outcome.BAD_MAC),
    (sign_purchase(KEYS.pk, replace(EF01_8, quantity=196481, total=311481)), Outcome.OVER_MAXIMUM),
    (sign_purchase(KEYS.rk, EF01_8), Outcome.BAD_MAC),
])
def test_refusals_add_nothing_but_still_write_the_return_file(purchase: Purchase, outcome: Outcome) -> None:
    meter, card = meter_of_example_c(), seeded_card(purchase)
    result = meter.take(card)
    assert (result.outcome, result.added, result.returned) == (outcome, 0, True)
    assert (meter.state.remaining, meter.state.last_count) == (3520, 7)
    written = card.meter_return()
    assert (written.remaining, written.last_count, written.time) == (3520, 7, TAKEN_AT)


def test_exactly_at_the_maximum_is_accepted() -> None:
    meter = meter_of_example_c()
    card = seeded_card(sign_purchase(KEYS.pk, replace(EF01_8, quantity=196480, total=311480)))
    assert meter.take(card).outcome is Outcome.APPLIED and meter.state.remaining == 200000


def test_another_meters_card_or_a_blank_one_gets_nothing_written() -> None:
    other = "310100012346"
    keys = DEMO_METER_MASTERS.for_meter(other)
    foreign = VirtualMeterCard.create(None, meter=other, utility=Utility.ELECTRICITY)
    meter = meter_of_example_c()
    assert meter.take(foreign).outcome is Outcome.OTHER_METER
    assert foreign.ef02() == bytes(24)
    # the same number on a card for another utility is another meter too
    water = seeded_card(sign_purchase(keys.pk, replace(EF01_8, utility=Utility.WATER)))
    before = water.ef02()
    assert meter.take(water).outcome is Outcome.OTHER_METER and water.ef02() == before
    assert meter.state.remaining == 3520


def test_a_card_without_the_meter_application_is_not_a_meter_card() -> None:
    class Stranger:
        def process(self, apdu: bytes) -> bytes:
            return b"\x6A\x82"
    assert meter_of_example_c().take(Stranger()).outcome is Outcome.NOT_A_METER_CARD


def test_running_down_warns_cuts_at_zero_and_a_purchase_reopens() -> None:
    clock = ManualClock(TAKEN_AT)
    meter = SimulatedMeter.create(METER, Utility.ELECTRICITY, maximum=200000, low_credit=5000, clock=clock,
                                  remaining=6000, cumulative=100, last_count=7)
    assert meter.status == MeterStatus.NONE
    assert meter.consume(1500) == 1500 and meter.status == MeterStatus.LOW_CREDIT
    assert meter.consume(10000) == 4500                            # only what is left
    assert meter.state.remaining == 0 and meter.state.cumulative == 6100
    assert meter.status == MeterStatus.SUPPLY_CUT | MeterStatus.LOW_CREDIT
    assert meter.consume(100) == 0                                 # nothing flows while cut
    clock.advance(3600)
    card = seeded_card(EF01_8)
    assert meter.take(card).outcome is Outcome.APPLIED
    assert meter.status == MeterStatus.NONE and meter.state.remaining == 10000
    returned = card.meter_return()
    assert returned.status == MeterStatus.NONE and returned.time == datetime(2026, 12, 5, 19, 0, 0)
    assert meter.consume(100) == 100


def test_a_new_meter_with_nothing_in_it_is_closed() -> None:
    meter = SimulatedMeter.create(METER, Utility.GAS, maximum=50000, low_credit=500, clock=ManualClock(TAKEN_AT))
    assert meter.status == MeterStatus.SUPPLY_CUT | MeterStatus.LOW_CREDIT
    with pytest.raises(ValueError):
        meter.consume(-1)


def test_tamper_and_card_pulled_early_are_reported_in_the_return_file() -> None:
    meter = meter_of_example_c()
    card = seeded_card(EF01_8)
    card.fault = lambda apdu: "before" if apdu[:3] == bytes.fromhex("00D682") else None
    result = meter.take(card)                  # pulled before the meter wrote EF 02
    assert result.outcome is Outcome.CARD_PULLED
    assert meter.state.remaining == 13520 and meter.state.last_count == 8     # applied in the meter
    assert card.ef02() == EF02_C.encode()                  # the card's EF 02 unchanged
    card.fault = None
    meter.set_tamper(True)
    again = meter.take(card)                   # same count: nothing more; EF 02 catches up
    assert (again.outcome, again.added) == (Outcome.ALREADY_APPLIED, 0)
    assert card.meter_return().status == MeterStatus.TAMPER | MeterStatus.PULLED_EARLY
    assert card.meter_return().last_count == 8
    meter.take(card)                           # pulled-early is reported once; tamper stays
    assert card.meter_return().status == MeterStatus.TAMPER
    meter.set_tamper(False)
    meter.mark_pulled_early()
    assert meter.status == MeterStatus.PULLED_EARLY


def test_the_meter_keeps_its_state_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "meter.json"
    meter = meter_of_example_c(path=path)
    meter.take(seeded_card(EF01_8))
    loaded = SimulatedMeter.load(path, ManualClock(TAKEN_AT))
    assert loaded.state == meter.state and loaded.state.remaining == 13520


def test_a_purchase_of_7_on_a_meter_at_7_is_already_applied() -> None:
    meter, card = meter_of_example_c(), seeded_card(EF01_7)
    assert meter.take(card).outcome is Outcome.ALREADY_APPLIED
    assert card.ef02() != EF02_C.encode()                 # rewritten: a new time and MAC
    assert card.meter_return().last_count == 7
