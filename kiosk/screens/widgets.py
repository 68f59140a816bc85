"""Small reusable widgets; their look is in widgets.kv."""
from __future__ import annotations

from typing import Any

from kivy.animation import Animation
from kivy.properties import BooleanProperty, NumericProperty, OptionProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.widget import Widget

ROLES = ["primary", "secondary", "accent"]


class KLabel(Label):
    """Wraps to its width; height follows the text (for vertical flows)."""


class KCell(Label):
    """Wraps to its width inside a cell the layout sizes (height not from text)."""


class KButton(Button):
    """A big, flat, rounded touch target."""

    role = OptionProperty("primary", options=ROLES)


class Tile(ButtonBehavior, BoxLayout):
    """The idle screen's large two-line buttons."""

    title = StringProperty("")
    hint = StringProperty("")
    role = OptionProperty("primary", options=ROLES)


class ScreenBar(BoxLayout):
    """Top bar of every non-idle screen: Back, title, idle countdown, language.
    `show_back` / `show_countdown` False while the bank is being asked."""

    title = StringProperty("")
    show_back = BooleanProperty(True)
    show_countdown = BooleanProperty(True)
    __events__ = ("on_back",)

    def on_back(self, *_: Any) -> None:
        pass


class BillRowView(BoxLayout):
    text = StringProperty("")
    amount = StringProperty("")
    kind = OptionProperty("item", options=["section", "item", "detail", "note"])
    first = BooleanProperty(False)   # no divider above the first row


class Looping(Widget):
    """A widget whose `phase` runs 0 -> 1 over `period` seconds, again and
    again, while `running` (the swipe prompt, the processing spinner)."""

    phase = NumericProperty(0.0)
    period = NumericProperty(1.6)
    running = BooleanProperty(False)

    def on_running(self, _widget: Any, running: bool) -> None:
        Animation.cancel_all(self, "phase")
        self.phase = 0.0
        if running:
            self._loop()

    def _loop(self, *_: Any) -> None:
        if not self.running:
            return
        self.phase = 0.0
        anim = Animation(phase=1.0, duration=self.period, t="in_out_sine" if self.ease else "linear")
        anim.bind(on_complete=self._loop)
        anim.start(self)

    ease = BooleanProperty(True)


class SwipeArt(Looping):
    """A card sliding through a magnetic-stripe reader's slot."""


class BusySpinner(Looping):
    """A turning arc: the bank is being asked."""


class PinSlot(Label):
    """One of the six PIN boxes; shows an asterisk once that digit is typed."""

    index = NumericProperty(0)


class InfoRow(BoxLayout):
    """A 'label: value' row on the result screen."""

    label = StringProperty("")
    value = StringProperty("")
