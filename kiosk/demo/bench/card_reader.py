"""The bench's card wallet for the simulated magnetic-stripe reader: one button
per demo bank card of config/test-cards.toml (masked PAN, demo PIN, what is
special about it) and the damaged stripe; a tap swipes it through the reader,
or flashes "reader not armed" if the reader was not waiting for a card."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import BooleanProperty, ObjectProperty

from kiosk.demo.bench.widgets import NOT_ARMED_S, BenchButton, BenchSection, app_lang
from common.demo_cards import DemoBadSwipe, DemoCard
from kiosk.i18n import pick, tr

if TYPE_CHECKING:
    from kiosk.devices.sim.card_reader import SimCardReader


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


def card_label(card: DemoCard | DemoBadSwipe, lang: str, today: date) -> str:
    name = pick(card.name, lang)
    if isinstance(card, DemoBadSwipe):           # a damaged stripe (it has no PIN)
        return name
    lines = [name.split("(")[0].strip(), f"{card.masked_pan} · {tr('bench.card.pin', lang, pin=card.pin)}"]
    notes = card_notes(card, lang, today)
    if notes:
        lines.append(" · ".join(notes))
    return "\n".join(lines)


class CardReaderBench(BenchSection):
    has_sims = BooleanProperty(False)       # any simulated device at all (else "no simulators")
    reader_armed = BooleanProperty(False)
    not_armed = BooleanProperty(False)      # "reader not armed" flash after a tap

    def __init__(self, reader: SimCardReader | None, wallet: Sequence[DemoCard | DemoBadSwipe], *,
                 has_sims: bool, today: Callable[[], date], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reader, self.today = reader, today
        self.has_sims = has_sims
        self._wallet = list(wallet)
        self._flash: Any = None
        if reader is not None:
            self.reader_armed = reader.armed
            # the reader's listener fires on its device thread: only schedule a refresh
            reader.listener = lambda armed: Clock.schedule_once(lambda _dt: self._set_armed(armed))
        app = App.get_running_app()
        if app is not None:
            app.bind(lang=self._fill_wallet)
        self._fill_wallet()

    def detach(self) -> None:
        if self.reader is not None:
            self.reader.listener = None

    def _fill_wallet(self, *_: Any) -> None:
        box = self.ids.wallet
        box.clear_widgets()
        lang = app_lang()
        for card in self._wallet:
            button = WalletCard(card=card, text=card_label(card, lang, self.today()),
                                tone="plain" if hasattr(card, "pin") else "stop")
            button.bind(on_release=self._swipe_card)
            box.add_widget(button)

    def _set_armed(self, armed: bool) -> None:
        self.reader_armed = armed
        if armed:
            self.not_armed = False

    def _swipe_card(self, button: WalletCard) -> None:
        self.swipe(button.card)

    def swipe(self, card: DemoCard | DemoBadSwipe) -> bool:
        """Swipe a wallet card through the simulated reader; False (and a short
        "reader not armed" note) if the reader was not waiting for a card."""
        if self.reader is None:
            return False
        track1 = getattr(card, "track1", None)
        if self.reader.swipe(card.track2, track1):
            return True
        self.not_armed = True
        if self._flash is not None:
            self._flash.cancel()
        self._flash = Clock.schedule_once(lambda _dt: setattr(self, "not_armed", False), NOT_ARMED_S)
        return False
