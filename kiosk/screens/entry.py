"""House-number entry on an on-screen keypad."""
from __future__ import annotations

from kivy.uix.screenmanager import Screen

from kiosk.screens.widgets import KButton
from kivy.properties import StringProperty


class EntryScreen(Screen):
    pass


class KeypadKey(KButton):
    """One keypad key; `key` is what it sends to BillPayment.press ("0".."9", "-", "back", "clear")."""

    key = StringProperty("")
