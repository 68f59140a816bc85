"""The bench's IC cards for the simulated contact and contactless readers: one
row per [[ic_card]] of config/test-cards.toml present in the simulated card
set (who, its demo PIN, live balances, which reader holds it) with Insert /
Tap / Remove / Pull, and "pull during the next write" for trying tears. The
[[onecard]] entries (estate one-cards, ic_cards_onecard.py) follow, tap only."""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from common.epurse import Wallet
from kiosk.demo.bench.ic_cards_onecard import is_onecard_write, onecard_state, onecard_title
from kiosk.demo.bench.widgets import NOT_ARMED_S, BenchSection, app_lang
from common.money import Money
from kiosk.i18n import pick, tr

if TYPE_CHECKING:
    from kiosk.devices.sim.cpu_card import VirtualCpuCard
    from kiosk.devices.sim.m1_card import VirtualM1Card
    from common.demo_cards import DemoIcCard, DemoOneCardEntry
    from kiosk.devices.sim.vpcd import VpcdSlot

log = logging.getLogger(__name__)

IC_REFRESH_S = 0.5  # how often the IC cards' balances and places are read
CARD_WRITES = (0x52, 0x54)  # CREDIT FOR LOAD; DEBIT FOR PURCHASE / UNLOAD (class 80)


class IcCardRow(BoxLayout):
    """One IC card of config/test-cards.toml: who, its demo PIN, live balances,
    which reader it is in, and the buttons that move it."""

    bench = ObjectProperty(None)     # the IcCardsBench its buttons act on
    serial = StringProperty("")
    title = StringProperty("")
    state = StringProperty("")
    where = StringProperty("")       # "" | contact | contactless
    tap_only = BooleanProperty(False)   # a one-card: contactless only (no Insert)


def ic_title(card: DemoIcCard, lang: str) -> str:
    name = pick(card.name, lang)
    return f"{name}\n…{card.serial[-4:]} · {tr('bench.card.pin', lang, pin=card.pin)}"


def ic_state(card: DemoIcCard, live: VirtualCpuCard | None, lang: str) -> str:
    """Balances as the card holds them now, and what is special about it."""
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


class IcCardsBench(BenchSection):
    has_ic = BooleanProperty(False)
    tear_armed = BooleanProperty(False)      # the next card write pulls the card
    ic_note = StringProperty("")             # a short flash (reader busy)

    def __init__(self, slots: Mapping[str, VpcdSlot], cards: Mapping[str, VirtualCpuCard],
                 demo_cards: Sequence[DemoIcCard], onecards: Mapping[str, VirtualM1Card] | None = None,
                 demo_onecards: Sequence[DemoOneCardEntry] = (), **kwargs: Any) -> None:
        """`slots`: the readers by name ("contact", "contactless"); `cards`: the
        virtual cards by serial; `demo_cards`: what config/test-cards.toml says of
        them; `onecards` / `demo_onecards`: the one-cards by UID, likewise."""
        super().__init__(**kwargs)
        onecards = onecards or {}
        self.slots, self._cpu, self._m1 = slots, cards, onecards
        self.cards: dict[str, VirtualCpuCard | VirtualM1Card] = {**cards, **onecards}   # by serial / UID
        self.has_ic = bool(slots and self.cards)
        self._ic_cards = [c for c in demo_cards if c.serial in cards] if self.has_ic else []
        self._onecards = [c for c in demo_onecards if c.uid in onecards] if self.has_ic else []
        self._rows: dict[str, IcCardRow] = {}
        self._clock: Any = Clock.schedule_interval(self._refresh, IC_REFRESH_S) if self.has_ic else None
        self._flash: Any = None
        app = App.get_running_app()
        if app is not None:
            app.bind(lang=self._fill)
        self._fill()

    def detach(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None
        self.arm_tear(False)

    def _fill(self, *_: Any) -> None:
        box = self.ids.ic_cards
        box.clear_widgets()
        self._rows = {}
        lang = app_lang()
        for card in self._ic_cards:
            row = IcCardRow(bench=self, serial=card.serial, title=ic_title(card, lang))
            self._rows[card.serial] = row
            box.add_widget(row)
        for one in self._onecards:
            row = IcCardRow(bench=self, serial=one.uid, title=onecard_title(one, lang), tap_only=True)
            self._rows[one.uid] = row
            box.add_widget(row)
        self._refresh()

    def _refresh(self, *_: Any) -> None:
        if not self.has_ic:
            return
        lang = app_lang()
        for card in self._ic_cards:
            row = self._rows.get(card.serial)
            if row is None:
                continue
            row.state = ic_state(card, self._cpu.get(card.serial), lang)
            row.where = self._slot_of(card.serial) or ""
        for one in self._onecards:
            row = self._rows.get(one.uid)
            if row is not None:
                row.state = onecard_state(one, self._m1.get(one.uid), lang)
                row.where = self._slot_of(one.uid) or ""

    def _slot_of(self, serial: str) -> str | None:
        """Which reader holds the card, if any."""
        live = self.cards.get(serial)
        for name, slot in self.slots.items():
            if live is not None and slot.card is live:
                return name
        return None

    def ic_insert(self, serial: str, reader: str) -> bool:
        """Put the card into `reader` ("contact": insert; "contactless": tap). A card
        in the other reader moves over; False (and a flash) if `reader` holds another card."""
        if reader not in self.slots or serial not in self.cards:
            return False
        slot, card = self.slots[reader], self.cards[serial]
        if slot.card is card:
            return True
        if slot.card is not None:
            self._flash_note("bench.ic.reader_busy")
            return False
        current = self._slot_of(serial)
        if current is not None:
            self.slots[current].remove()
        card.fault = self._tear_hook(card) if self.tear_armed else None   # a fresh insertion
        try:
            slot.insert(card)
        except (OSError, RuntimeError) as exc:
            log.warning("bench: inserting card %s into %s failed: %s", serial, reader, exc)
            self._flash_note("bench.ic.reader_busy")
            return False
        self._refresh()
        return True

    def ic_remove(self, serial: str) -> bool:
        """Take the card out as a card holder does (an APDU in progress finishes first)."""
        where = self._slot_of(serial)
        if where is None:
            return False
        self.slots[where].remove()
        self._refresh()
        return True

    def ic_pull(self, serial: str) -> bool:
        """Pull the card at once, whatever it is doing: the next command never
        reaches it and the reader loses it now (for trying tears)."""
        where = self._slot_of(serial)
        if where is None:
            return False
        self.cards[serial].fault = lambda _apdu: "before"
        self.slots[where].remove(timeout=0)
        Clock.schedule_once(self._refresh, 0)
        return True

    def toggle_tear(self) -> None:
        self.arm_tear(not self.tear_armed)

    def arm_tear(self, armed: bool) -> None:
        """With `armed`, the next card write (load, unload, payment) is applied by
        the card and then the card is pulled before its answer leaves: a tear."""
        self.tear_armed = armed
        for card in (self.cards.values() if self.has_ic else ()):
            card.fault = self._tear_hook(card) if armed else None

    def _tear_hook(self, card: VirtualCpuCard | VirtualM1Card) -> Any:
        def hook(apdu: bytes) -> str | None:   # runs in the vpcd slot's thread
            if (len(apdu) > 1 and apdu[0] == 0x80 and apdu[1] in CARD_WRITES) or is_onecard_write(apdu):
                card.fault = None
                Clock.schedule_once(lambda _dt: self.arm_tear(False))
                return "after"
            return None
        return hook

    def _flash_note(self, key: str) -> None:
        self.ic_note = key
        if self._flash is not None:
            self._flash.cancel()
        self._flash = Clock.schedule_once(lambda _dt: setattr(self, "ic_note", ""), NOT_ARMED_S)

