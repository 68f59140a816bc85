"""The device bench beside the kiosk screen (demo and tests only): the
reference host's on/off switch, the network switch, the card wallet (swipes
on the simulated reader), the IC cards (into the contact reader, onto the
contactless one, out, pulled), the simulated PIN pad, and the simulated
printer's output, paper and online switches.

Everything here drives the simulators' control APIs (kiosk.devices.sim.*) and
BenchControls; nothing calls a service. The simulators' listeners fire on
device threads, so each one only schedules a refresh on Kivy's clock."""
from __future__ import annotations

import asyncio
import io
import logging
from datetime import date
from collections.abc import Callable
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
    from kiosk.devices.sim.cpu_card import VirtualCpuCard
    from common.demo_cards import DemoBadSwipe, DemoCard, DemoIcCard

log = logging.getLogger(__name__)

BENCH_WIDTH = 400  # px beside the kiosk area
NOT_ARMED_S = 2.5  # how long "reader not armed" stays up
IC_REFRESH_S = 0.5  # how often the IC cards' balances and places are read
CARD_WRITES = (0x52, 0x54)  # CREDIT FOR LOAD; DEBIT FOR PURCHASE / UNLOAD (class 80)
NETWORK_MODES = ("up", "down", "drop_replies")   # kiosk.devices.sim.network.LinkMode values
PAPER_STATES = ("ok", "near_end", "out")         # kiosk.devices.ports.PaperStatus values


class BenchButton(Button):
    """A flat bench button; `selected` marks the current position of a switch."""

    selected = BooleanProperty(False)
    tone = StringProperty("plain")   # plain | go | stop


class WalletCard(BenchButton):
    """One card of the demo wallet: tap = swipe it through the reader."""

    card = ObjectProperty(None)      # DemoCard | DemoBadSwipe


def card_notes(card: DemoCard, lang: str, today: date) -> list[str]:
    """What is special about a demo card, read from its own fields (expired as of `today`)."""
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


class IcCardRow(BoxLayout):
    """One IC card of config/test-cards.toml: who, its demo PIN, live balances,
    which reader it is in, and the buttons that move it."""

    serial = StringProperty("")
    title = StringProperty("")
    state = StringProperty("")
    where = StringProperty("")       # "" | contact | contactless


def ic_title(card: DemoIcCard, lang: str) -> str:
    name = pick(card.name, lang)
    return f"{name}\n…{card.serial[-4:]} · {tr('bench.card.pin', lang, pin=card.pin)}"


def ic_state(card: DemoIcCard, live: VirtualCpuCard | None, lang: str) -> str:
    """Balances as the card holds them now, and what is special about it."""
    from common.epurse import Wallet
    from common.money import Money

    if live is None:
        ed, ep, tries = card.ed_balance, card.ep_balance, card.pin_tries_left
    else:
        ed, ep, tries = Money(live.balance(Wallet.ED)), Money(live.balance(Wallet.EP)), live.pin_tries_left
    notes = [tr("bench.ic.balances", lang, ed=ed.display(), ep=ep.display())]
    if tries == 0:
        notes.append(tr("bench.ic.pin_blocked", lang))
    if card.status in ("lost", "blacklisted"):
        notes.append(tr(f"bench.ic.status.{card.status}", lang))
    return " · ".join(notes)


def card_label(card: DemoCard | DemoBadSwipe, lang: str, today: date) -> str:
    from common.demo_cards import DemoBadSwipe

    name = pick(card.name, lang)
    if isinstance(card, DemoBadSwipe):           # a damaged stripe (it has no PIN)
        return name
    lines = [name.split("(")[0].strip(), f"{card.masked_pan} · {tr('bench.card.pin', lang, pin=card.pin)}"]
    notes = card_notes(card, lang, today)
    if notes:
        lines.append(" · ".join(notes))
    return "\n".join(lines)


class BenchPanel(BoxLayout):
    controls = ObjectProperty(None)   # BenchControls
    host_running = BooleanProperty(False)
    switching = BooleanProperty(False)
    failure = StringProperty("")
    console_url = StringProperty("")          # the staff console, opened from the bench
    console_note = StringProperty("")         # said after trying to open it
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
    # IC cards
    has_ic = BooleanProperty(False)
    tear_armed = BooleanProperty(False)      # the next card write pulls the card
    ic_note = StringProperty("")             # a short flash (reader busy)

    def __init__(self, controls: BenchControls, sims: SimDevices | None = None, *,
                 today: Callable[[], date], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.controls, self.today = controls, today
        self.sims = sims
        self.host_running = controls.host_running
        self.console_url = getattr(controls, "console_url", "")
        self.network_wired = has_network(controls)
        if self.network_wired:
            self.network_mode = _mode_value(controls.network_mode)
        self._task: asyncio.Task[None] | None = None
        self._wallet: list[Any] = []
        self._ic_cards: list[DemoIcCard] = []
        self._ic_rows: dict[str, IcCardRow] = {}
        self._ic_clock: Any = None
        self._flash = None
        self._ic_flash = None
        self.has_sims = bool(sims is not None and (sims.reader or sims.pinpad or sims.printer))
        self.has_ic = bool(sims is not None and getattr(sims, "ic_slots", None) and getattr(sims, "ic_cards", None))
        self._attach()
        app = App.get_running_app()
        if app is not None:
            app.bind(lang=self._fill_wallet)
            app.bind(lang=self._fill_ic)
        self._fill_wallet()
        self._fill_ic()

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
        from common.demo_cards import load_test_cards
        try:
            wallet = load_test_cards()
        except OSError:
            log.exception("bench: no test cards")
        else:
            self._wallet = [*wallet.cards, *wallet.bad_swipes]
            if self.has_ic:
                self._ic_cards = [c for c in wallet.ic_cards if c.serial in sims.ic_cards]
                self._ic_clock = Clock.schedule_interval(self._refresh_ic, IC_REFRESH_S)

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
        if self._ic_clock is not None:
            self._ic_clock.cancel()
            self._ic_clock = None
        self.arm_tear(False)

    def _fill_wallet(self, *_: Any) -> None:
        box = self.ids.wallet
        box.clear_widgets()
        lang = getattr(App.get_running_app(), "lang", "zh")
        for card in self._wallet:
            button = WalletCard(card=card, text=card_label(card, lang, self.today()),
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

    # --- the IC cards -----------------------------------------------------------------------
    def _fill_ic(self, *_: Any) -> None:
        box = self.ids.ic_cards
        box.clear_widgets()
        self._ic_rows = {}
        lang = getattr(App.get_running_app(), "lang", "zh")
        for card in self._ic_cards:
            row = IcCardRow(serial=card.serial, title=ic_title(card, lang))
            self._ic_rows[card.serial] = row
            box.add_widget(row)
        self._refresh_ic()

    def _refresh_ic(self, *_: Any) -> None:
        if not self.has_ic or self.sims is None:     # has_ic implies sims
            return
        lang = getattr(App.get_running_app(), "lang", "zh")
        for card in self._ic_cards:
            row = self._ic_rows.get(card.serial)
            if row is None:
                continue
            live = self.sims.ic_cards.get(card.serial)
            row.state = ic_state(card, live, lang)
            row.where = self._slot_of(card.serial) or ""

    def _slot_of(self, serial: str) -> str | None:
        """Which reader holds the card, if any."""
        live = self.sims.ic_cards.get(serial) if self.sims is not None else None
        for name, slot in (self.sims.ic_slots.items() if self.sims is not None else ()):
            if live is not None and slot.card is live:
                return name
        return None

    def ic_insert(self, serial: str, reader: str) -> bool:
        """Put the card into `reader` ("contact": insert; "contactless": tap). A card
        in the other reader moves over; False (and a flash) if `reader` holds another card."""
        sims = self.sims
        if sims is None or reader not in sims.ic_slots or serial not in sims.ic_cards:
            return False
        slot, card = sims.ic_slots[reader], sims.ic_cards[serial]
        if slot.card is card:
            return True
        if slot.card is not None:
            self._flash_ic("bench.ic.reader_busy")
            return False
        current = self._slot_of(serial)
        if current is not None:
            sims.ic_slots[current].remove()
        card.fault = self._tear_hook(card) if self.tear_armed else None   # a fresh insertion
        try:
            slot.insert(card)
        except (OSError, RuntimeError) as exc:
            log.warning("bench: inserting card %s into %s failed: %s", serial, reader, exc)
            self._flash_ic("bench.ic.reader_busy")
            return False
        self._refresh_ic()
        return True

    def ic_remove(self, serial: str) -> bool:
        """Take the card out as a card holder does (an APDU in progress finishes first)."""
        where = self._slot_of(serial)
        if where is None or self.sims is None:
            return False
        self.sims.ic_slots[where].remove()
        self._refresh_ic()
        return True

    def ic_pull(self, serial: str) -> bool:
        """Pull the card at once, whatever it is doing: the next command never
        reaches it and the reader loses it now (for trying tears)."""
        where = self._slot_of(serial)
        if where is None or self.sims is None:
            return False
        self.sims.ic_cards[serial].fault = lambda _apdu: "before"
        self.sims.ic_slots[where].remove(timeout=0)
        Clock.schedule_once(self._refresh_ic, 0)
        return True

    def toggle_tear(self) -> None:
        self.arm_tear(not self.tear_armed)

    def arm_tear(self, armed: bool) -> None:
        """With `armed`, the next card write (load, unload, payment) is applied by
        the card and then the card is pulled before its answer leaves: a tear."""
        self.tear_armed = armed
        for card in (self.sims.ic_cards.values() if self.sims is not None and self.has_ic else ()):
            card.fault = self._tear_hook(card) if armed else None

    def _tear_hook(self, card: VirtualCpuCard) -> Any:
        def hook(apdu: bytes) -> str | None:   # runs in the vpcd slot's thread
            if len(apdu) > 1 and apdu[0] == 0x80 and apdu[1] in CARD_WRITES:
                card.fault = None
                Clock.schedule_once(lambda _dt: self.arm_tear(False))
                return "after"
            return None
        return hook

    def _flash_ic(self, key: str) -> None:
        self.ic_note = key
        if self._ic_flash is not None:
            self._ic_flash.cancel()
        self._ic_flash = Clock.schedule_once(lambda _dt: setattr(self, "ic_note", ""), NOT_ARMED_S)

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
    def open_console(self) -> None:
        """The staff console in the desktop's browser (the demo's sign-ins are shown beside it)."""
        import webbrowser
        opened = bool(self.console_url) and webbrowser.open(self.console_url, new=2)
        self.console_note = "" if opened else "bench.console.no_browser"

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
