"""Widgets of the card services screens; their look is in card_widgets.kv."""
from __future__ import annotations

from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, OptionProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label

from kiosk.screens.widgets import KButton, Looping


class CardArt(Looping):
    """A card going into the contact slot and one coming down onto the
    contactless reader (card_insert, card_tear); `mode` "contact" draws the
    slot only."""

    mode = OptionProperty("both", options=["both", "contact"])


class HistoryRowView(BoxLayout):
    """One line of the card's last transactions: date, type in words, signed amount."""

    when = StringProperty("")
    what = StringProperty("")
    amount = StringProperty("")
    credit = BooleanProperty(False)
    first = BooleanProperty(False)


class BalanceTile(BoxLayout):
    wallet = StringProperty("EP")
    balance = StringProperty("")


class WalletOption(ButtonBehavior, BoxLayout):
    """A wallet to pay the bill from: its balance, and why it cannot if it cannot."""

    wallet = StringProperty("EP")
    balance = StringProperty("")
    note = StringProperty("")
    usable = BooleanProperty(True)


class AmountKey(KButton):
    """A key of the amount keypad ("0".."9", ".", "back", "clear")."""

    key = StringProperty("")


class PresetButton(KButton):
    amount = ObjectProperty(None)   # Money


class CardPinSlot(Label):
    """One of the six card PIN boxes; a dot once that digit is typed."""

    index = NumericProperty(0)
