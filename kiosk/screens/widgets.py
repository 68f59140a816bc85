"""Small reusable widgets; their look is in widgets.kv."""
from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, OptionProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label

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
    """Top bar of every non-idle screen: Back, title, idle countdown, language."""

    title = StringProperty("")
    __events__ = ("on_back",)

    def on_back(self, *_: Any) -> None:
        pass


class BillRowView(BoxLayout):
    text = StringProperty("")
    amount = StringProperty("")
    kind = OptionProperty("item", options=["section", "item", "detail", "note"])
    first = BooleanProperty(False)   # no divider above the first row
