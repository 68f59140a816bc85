"""The device bench beside the kiosk screen (demo and tests only): the
reference host's on/off switch, the network switch, the card wallet (swipes
on the simulated reader), the simulated PIN pad, and the simulated printer's
output, paper and online switches.

Everything here drives the simulators' control APIs (kiosk.devices.sim.*) and
BenchControls; nothing calls a service. The simulators' listeners fire on
device threads, so each one only schedules a refresh on Kivy's clock."""
from __future__ import annotations

import asyncio
import io
import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button

from kiosk.bench.controls import BenchControls, has_network
from kiosk.i18n import pick, tr

if TYPE_CHECKING:
    from kiosk.bootstrap import SimDevices
    from kiosk.devices.sim.test_cards import DemoBadSwipe, DemoCard

log = logging.getLogger(__name__)

BENCH_WIDTH = 400  # px beside the kiosk area
NOT_ARMED_S = 2.5  # how long "reader not armed" stays up
NETWORK_MODES = ("up", "down", "drop_replies")   # kiosk.devices.sim.network.LinkMode values
PAPER_STATES = ("ok", "near_end", "out")         # kiosk.devices.ports.PaperStatus values


class BenchButton(Button):
    """A flat bench button; `selected` marks the current position of a switch."""

    selected = BooleanProperty(False)
    tone = StringProperty("plain")   # plain | go | stop


class WalletCard(BenchButton):
    """One card of the demo wallet: tap = swipe it through the reader."""

    card = ObjectProperty(None)      # DemoCard | DemoBadSwipe


def card_notes(card: DemoCard, lang: str, today: date | None = None) -> list[str]:
    """What is special about a demo card, read from its own fields."""
    today = today or date.today()
    notes = []
    if card.status == "blocked":
        notes.append(tr("bench.card.blocked", lang))
    if card.expiry < f"{today:%y%m}":
        notes.append(tr("bench.card.expired", lang))
    if card.balance.fen < 100_00:
        notes.append(tr("bench.card.low_balance", lang, amount=card.balance.display()))
    if card.daily_limit.fen < 20_000_00:
        notes.append(tr("bench.card.limit", lang, amount=card.daily_limit.display()))
    return notes


def card_label(card: DemoCard | DemoBadSwipe, lang: str) -> str:
    name = pick(card.name, lang)
    if not hasattr(card, "pin"):                 # a damaged stripe
        return name
    lines = [name.split("(")[0].strip(), f"{card.masked_pan} · {tr('bench.card.pin', lang, pin=card.pin)}"]
    notes = card_notes(card, lang)
    if notes:
        lines.append(" · ".join(notes))
    return "\n".join(lines)


class BenchPanel(BoxLayout):
    controls = ObjectProperty(None)   # BenchControls
    host_running = BooleanProperty(False)
    switching = BooleanProperty(False)
    failure = StringProperty("")
    # network
    network_wired = BooleanProperty(False)
    network_mode = StringProperty("up")
    network_switching = BooleanProperty(False)
    # simulated devices
    has_sims = BooleanProperty(False)
    reader_armed = BooleanProperty(False)
    not_armed = BooleanProperty(False)      # "reader not armed" flash after a tap
    pin_entering = BooleanProperty(False)
    pin_digits = NumericProperty(0)
    receipts = NumericProperty(0)
    receipt_texture = ObjectProperty(None, allownone=True)
    receipt_text = StringProperty("")
    paper = StringProperty("ok")
    printer_offline = BooleanProperty(False)

    def __init__(self, controls: BenchControls, sims: SimDevices | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.controls = controls
        self.sims = sims
        self.host_running = controls.host_running
        self.network_wired = has_network(controls)
        if self.network_wired:
            self.network_mode = _mode_value(controls.network_mode)
        self._task: asyncio.Task[None] | None = None
        self._wallet: list[Any] = []
        self._flash = None
        self.has_sims = bool(sims is not None and (sims.reader or sims.pinpad or sims.printer))
        self._attach()
        app = App.get_running_app()
        if app is not None:
            app.bind(lang=self._fill_wallet)
        self._fill_wallet()

    # --- wiring the simulators ------------------------------------------------------
    def _attach(self) -> None:
        sims = self.sims
        if sims is None:
            return
        if sims.reader is not None:
            self.reader_armed = sims.reader.armed
            sims.reader.listener = lambda armed: Clock.schedule_once(lambda _dt: self._set_armed(armed))
        if sims.pinpad is not None:
            sims.pinpad.listener = lambda state: Clock.schedule_once(lambda _dt: self._set_pin_state(state))
            self._set_pin_state(sims.pinpad.state)
        if sims.printer is not None:
            sims.printer.on_receipt = lambda _text, _path: Clock.schedule_once(lambda _dt: self._show_receipt())
            self.paper = sims.printer.paper.value
            self.printer_offline = sims.printer.offline
            self._show_receipt()
        from kiosk.devices.sim.test_cards import load_test_cards
        try:
            wallet = load_test_cards()
        except OSError:
            log.exception("bench: no test cards")
        else:
            self._wallet = [*wallet.cards, *wallet.bad_swipes]

    def detach(self) -> None:
        """Stop listening to the simulators (the app is stopping)."""
        sims = self.sims
        if sims is None:
            return
        if sims.reader is not None:
            sims.reader.listener = None
        if sims.pinpad is not None:
            sims.pinpad.listener = None
        if sims.printer is not None:
            sims.printer.on_receipt = None


    def _fill_wallet(self, *_: Any) -> None:
        box = self.ids.wallet
        box.clear_widgets()
        lang = getattr(App.get_running_app(), "lang", "zh")
        for card in self._wallet:
            button = WalletCard(card=card, text=card_label(card, lang),
                                tone="plain" if hasattr(card, "pin") else "stop")
            button.bind(on_release=self._swipe_card)
            box.add_widget(button)

    def _set_armed(self, armed: bool) -> None:
        self.reader_armed = armed
        if armed:
            self.not_armed = False

    def _set_pin_state(self, state: Any) -> None:
        self.pin_entering = state.entering
        self.pin_digits = state.digits

    # --- the card wallet ---------------------------------------------------------------
    def _swipe_card(self, button: WalletCard) -> None:
        self.swipe(button.card)

    def swipe(self, card: DemoCard | DemoBadSwipe) -> bool:
        """Swipe a wallet card through the simulated reader; False (and a short
        "reader not armed" note) if the reader was not waiting for a card."""
        reader = self.sims.reader if self.sims is not None else None
        if reader is None:
            return False
        track1 = getattr(card, "track1", None)
        if reader.swipe(card.track2, track1):
            return True
        self.not_armed = True
        if self._flash is not None:
            self._flash.cancel()
        self._flash = Clock.schedule_once(lambda _dt: setattr(self, "not_armed", False), NOT_ARMED_S)
        return False

    # --- the PIN pad ------------------------------------------------------------------------
    def press(self, key: str) -> bool:
        """A key of the simulated PIN pad: '0'..'9', backspace, clear, cancel, enter."""
        pinpad = self.sims.pinpad if self.sims is not None else None
        return pinpad.press(key) if pinpad is not None else False

    # --- the printer ------------------------------------------------------------------------
    def set_paper(self, value: str) -> None:
        from kiosk.devices.ports import PaperStatus

        printer = self.sims.printer if self.sims is not None else None
        if printer is not None:
            printer.paper = PaperStatus(value)
            self.paper = printer.paper.value

    def set_printer_offline(self, offline: bool) -> None:
        printer = self.sims.printer if self.sims is not None else None
        if printer is not None:
            printer.offline = offline
            self.printer_offline = printer.offline

    def _show_receipt(self) -> None:
        printer = self.sims.printer if self.sims is not None else None
        if printer is None or not printer.receipts:
            return
        last = printer.receipts[-1]
        self.receipts = len(printer.receipts)
        self.receipt_text = last.text
        try:
            self.receipt_texture = CoreImage(io.BytesIO(last.png), ext="png").texture
        except Exception:  # noqa: BLE001 - the text stays available
            log.exception("bench: cannot show the receipt image")
            self.receipt_texture = None

    # --- host and network switches ----------------------------------------------------------
    def toggle_host(self) -> None:
        if self.switching:
            return
        self.switching = True
        self.failure = ""
        self._task = App.get_running_app().spawn(self._switch(not self.host_running))

    async def _switch(self, running: bool) -> None:
        try:
            await self.controls.set_host_running(running)
        except Exception as exc:  # noqa: BLE001 - a bench failure is shown, not raised
            log.exception("bench: switching the host failed")
            self.failure = str(exc) or type(exc).__name__
        finally:
            self.host_running = self.controls.host_running
            self.switching = False

    def set_network(self, value: str) -> None:
        if not self.network_wired or self.network_switching or value == self.network_mode:
            return
        self.network_switching = True
        self.failure = ""
        App.get_running_app().spawn(self._set_network(value))

    async def _set_network(self, value: str) -> None:
        from kiosk.devices.sim.network import LinkMode

        try:
            await self.controls.set_network_mode(LinkMode(value))
        except Exception as exc:  # noqa: BLE001
            log.exception("bench: switching the network failed")
            self.failure = str(exc) or type(exc).__name__
        finally:
            self.network_mode = _mode_value(self.controls.network_mode)
            self.network_switching = False


def _mode_value(mode: Any) -> str:
    return str(getattr(mode, "value", mode))
