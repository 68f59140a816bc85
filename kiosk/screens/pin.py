"""Card payment, step 2: the PIN goes into the PIN pad; the screen only shows
how many digits were typed (key events carry no values)."""
from __future__ import annotations

from kivy.uix.screenmanager import Screen


class PinScreen(Screen):
    pass
