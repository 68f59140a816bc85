"""The IC card's own PIN on the PIN pad (passbook load / unload / payment, and
each step of changing the PIN); a dot appears for each key pressed on the pad."""
from __future__ import annotations

from kivy.uix.screenmanager import Screen

from kiosk.screens import card_widgets  # noqa: F401  (registers the card widgets)


class CardPinScreen(Screen):
    pass
