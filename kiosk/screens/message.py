"""Errors and "coming soon" notes, with the way out that fits (Navigator.show)."""
from __future__ import annotations

from kivy.uix.screenmanager import Screen


class MessageScreen(Screen):
    pass
