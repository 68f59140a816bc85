"""Card payment, the end: approved (card, amount, reference, receipt), declined
with the bank's reason, outcome unknown (being reversed) or bank unreachable."""
from __future__ import annotations

from kivy.uix.screenmanager import Screen


class ResultScreen(Screen):
    pass
