"""The device bench beside the kiosk screen (demo and UI tests only): one
section per device stacked in a scrolling column: the reference host and the
network link to it (host_link), the magnetic-stripe card wallet
(card_reader), the IC cards (ic_cards), the prepaid meters (meter), the PIN pad (pin_pad) and the
printer (printer).

Everything here drives the simulators' control APIs (kiosk.devices.sim.*) and
BenchControls; nothing calls a service. The simulators' listeners fire on
device threads, so each section only schedules a refresh on Kivy's clock.

KioskApp takes the bench as its side panel (`side_panel=bench_panel(...)`):
the app itself knows nothing of the bench."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.uix.boxlayout import BoxLayout

from kiosk.demo.bench.card_reader import CardReaderBench
from kiosk.demo.bench.controls import BenchControls
from kiosk.demo.bench.host_link import HostLink
from kiosk.demo.bench.ic_cards import IcCardsBench
from kiosk.demo.bench.meter import MeterBench
from kiosk.demo.bench.pin_pad import PinPadBench
from kiosk.demo.bench.printer import PrinterBench
from kiosk.demo.bench.widgets import load_bench_kv
from common.demo_cards import DemoBadSwipe, DemoCard, DemoIcCard, DemoOneCardEntry, load_test_cards

if TYPE_CHECKING:
    from kiosk.bootstrap import Kiosk, SimDevices

log = logging.getLogger(__name__)

BENCH_WIDTH = 400  # px beside the kiosk area (panel.kv's width)


class BenchPanel(BoxLayout):
    def __init__(self, controls: BenchControls, sims: SimDevices | None = None, *,
                 today: Callable[[], date], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.controls, self.sims = controls, sims
        wallet: list[DemoCard | DemoBadSwipe] = []
        ic_cards: list[DemoIcCard] = []
        onecards: list[DemoOneCardEntry] = []
        if sims is not None:
            try:
                cards = load_test_cards()
            except OSError:
                log.exception("bench: no test cards")
            else:
                wallet, ic_cards = [*cards.cards, *cards.bad_swipes], list(cards.ic_cards)
                onecards = list(cards.onecards)
        has_sims = bool(sims is not None and (sims.reader or sims.pinpad or sims.printer))
        self.host_link = HostLink(controls)
        self.card_reader = CardReaderBench(sims.reader if sims else None, wallet, has_sims=has_sims, today=today)
        self.ic_cards = IcCardsBench(sims.ic_slots if sims else {}, sims.ic_cards if sims else {}, ic_cards,
                                     sims.onecards if sims else {}, onecards)
        self.meters = MeterBench(sims.ic_slots.get("contact") if sims else None, sims.meter_cards if sims else {},
                                 sims.meters if sims else {})
        self.pin_pad = PinPadBench(sims.pinpad if sims else None)
        self.printer = PrinterBench(sims.printer if sims else None)
        for section in (self.host_link, self.card_reader, self.ic_cards, self.meters, self.pin_pad, self.printer):
            self.ids.content.add_widget(section)

    def detach(self) -> None:
        """Stop listening to the simulators (the app is stopping)."""
        for section in (self.card_reader, self.ic_cards, self.meters, self.pin_pad, self.printer):
            section.detach()


def bench_panel(controls: BenchControls, kiosk: Kiosk) -> Callable[[], BenchPanel]:
    """What KioskApp builds beside the resident's screen: the bench over
    `kiosk`'s simulators. Built once the app runs and its kv is loaded."""
    def build() -> BenchPanel:
        load_bench_kv()
        panel = BenchPanel(controls, sims=kiosk.sims, today=kiosk.clock.today)
        App.get_running_app().bind(on_stop=lambda *_: panel.detach())
        return panel
    return build
