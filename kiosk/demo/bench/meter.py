"""The bench's prepaid meters (docs/meters.md "The bench meter"): one row per
meter card of config/test-cards.toml, with the simulated meter it goes into.
"Insert" puts the card into the kiosk's contact reader; "To the meter" takes
it out of the kiosk (if there) and into its meter, which applies it, writes its
return file and gives it back (SimulatedMeter.take). A speed slider runs the
meters down (low credit, then the supply cut at zero); tamper and "card pulled
early" set the meter's flags, reported on the card at its next insertion."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from common.meter_card import units_text
from kiosk.demo.bench.widgets import NOT_ARMED_S, BenchSection, app_lang
from kiosk.i18n import pick, tr

if TYPE_CHECKING:
    from kiosk.devices.sim.meter import SimulatedMeter
    from kiosk.devices.sim.meter_card import VirtualMeterCard
    from kiosk.devices.sim.vpcd import VpcdSlot

log = logging.getLogger(__name__)

TICK_S = 0.5            # how often the meters run and their rows are read
MAX_SPEED = 50.0        # units (kWh / m³) per second at the slider's end
UNITS = {1: "kWh", 2: "m³", 3: "m³"}


def units(value: int, utility: int) -> str:
    return f"{units_text(value)} {UNITS.get(utility, '')}"


class MeterRow(BoxLayout):
    """One meter and its card: what the meter holds and shows, where the card is."""

    bench = ObjectProperty(None)
    meter = StringProperty("")
    title = StringProperty("")
    state = StringProperty("")
    in_kiosk = BooleanProperty(False)
    low = BooleanProperty(False)
    cut = BooleanProperty(True)
    tamper = BooleanProperty(False)
    note = StringProperty("")       # what the meter did with the card last


class MeterBench(BenchSection):
    has_meters = BooleanProperty(False)
    speed = NumericProperty(0.0)    # units per second consumed by every open meter
    flash = StringProperty("")

    def __init__(self, slot: VpcdSlot | None, cards: Mapping[str, VirtualMeterCard],
                 meters: Mapping[str, SimulatedMeter], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slot, self.cards, self.meters = slot, cards, meters
        self.has_meters = bool(slot is not None and cards and meters)
        self._rows: dict[str, MeterRow] = {}
        self._clock: Any = Clock.schedule_interval(self._tick, TICK_S) if self.has_meters else None
        self._flash: Any = None
        app = App.get_running_app()
        if app is not None:
            app.bind(lang=self._fill)
        self._fill()

    def detach(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def _fill(self, *_: Any) -> None:
        box = self.ids.meters
        box.clear_widgets()
        self._rows = {}
        lang = app_lang()
        for number, card in (self.cards.items() if self.has_meters else ()):
            title = f"{pick(card.name, lang)} · {number}"
            row = MeterRow(bench=self, meter=number, title=title)
            self._rows[number] = row
            box.add_widget(row)
        self._refresh()

    def _tick(self, _dt: float) -> None:
        used = int(self.speed * 100 * TICK_S)
        if used > 0:
            for meter in self.meters.values():
                meter.consume(used)
        self._refresh()

    def _refresh(self, *_: Any) -> None:
        lang = app_lang()
        for number, row in self._rows.items():
            meter = self.meters.get(number)
            if meter is None:
                continue
            s = meter.state
            row.low, row.cut, row.tamper = s.remaining < s.low_credit, s.supply_cut, s.tamper
            row.in_kiosk = self.slot is not None and self.slot.card is self.cards[number]
            row.state = tr("bench.meter.state", lang, remaining=units(s.remaining, s.utility),
                           used=units(s.cumulative, s.utility), count=s.last_count)

    # --- the buttons ------------------------------------------------------------------------
    def insert(self, number: str) -> bool:
        """The card into the kiosk's contact reader (False and a flash if it holds another card)."""
        if self.slot is None or number not in self.cards:
            return False
        card = self.cards[number]
        if self.slot.card is card:
            return True
        if self.slot.card is not None:
            self._flash_note("bench.ic.reader_busy")
            return False
        try:
            self.slot.insert(card)
        except (OSError, RuntimeError) as exc:
            log.warning("bench: inserting meter card %s failed: %s", number, exc)
            self._flash_note("bench.ic.reader_busy")
            return False
        self._refresh()
        return True

    def remove(self, number: str) -> None:
        if self.slot is not None and self.slot.card is self.cards.get(number):
            self.slot.remove()
        self._refresh()

    def to_meter(self, number: str) -> None:
        """Out of the kiosk (if there), into the meter, and back in the hand."""
        card, meter = self.cards.get(number), self.meters.get(number)
        if card is None or meter is None:
            return
        if self.slot is not None and self.slot.card is card:
            self.slot.remove()
        result = meter.take(card)
        log.info("bench: meter %s took its card: %s, %d added", number, result.outcome.value, result.added)
        row = self._rows.get(number)
        if row is not None:
            row.note = f"bench.meter.outcome.{result.outcome.name.lower()}"
        self._refresh()

    def toggle_tamper(self, number: str) -> None:
        meter = self.meters.get(number)
        if meter is not None:
            meter.set_tamper(not meter.state.tamper)
            self._refresh()

    def pull_early(self, number: str) -> None:
        """The card left the meter before it had finished: the meter reports it next time."""
        meter = self.meters.get(number)
        if meter is not None:
            meter.mark_pulled_early()
            row = self._rows.get(number)
            if row is not None:
                row.note = "bench.meter.outcome.card_pulled"
            self._refresh()

    def _flash_note(self, key: str) -> None:
        self.flash = key
        if self._flash is not None:
            self._flash.cancel()
        self._flash = Clock.schedule_once(lambda _dt: setattr(self, "flash", ""), NOT_ARMED_S)
