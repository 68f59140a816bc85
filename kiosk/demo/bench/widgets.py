"""What every bench section shares: the flat bench button (its look, and the
bench's labels, sections and rows, are in widgets.kv, loaded before the
sections' own kv files) and the running app's language."""
from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button

from kiosk.screens.theme import load_kv

HERE = Path(__file__).resolve().parent
NOT_ARMED_S = 2.5  # how long a bench flash ("reader not armed", "reader busy") stays up


class BenchButton(Button):
    """A flat bench button; `selected` marks the current position of a switch."""

    selected = BooleanProperty(False)
    tone = StringProperty("plain")   # plain | go | stop


def app_lang() -> str:
    """The language the resident chose (the bench follows it)."""
    return getattr(App.get_running_app(), "lang", "zh")


def load_bench_kv() -> None:
    """The bench's kv files, shared styles first; once per Builder like the screens'."""
    load_kv(HERE / "widgets.kv", *sorted(p for p in HERE.glob("*.kv") if p.name != "widgets.kv"))


class BenchSection(BoxLayout):
    """One device's card on the bench (its look is in widgets.kv)."""
