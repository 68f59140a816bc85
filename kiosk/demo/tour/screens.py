"""Driving the resident's screens by simulated touch: wait for a screen, type
on the keypads, look a house up, go home, take a snapshot."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk import ui_env  # noqa: F401  (Kivy's environment, before Kivy loads)

from kiosk.demo.touch import find, frames, tap, wait_for
from kiosk.screens.card_widgets import AmountKey
from kiosk.screens.entry import KeypadKey

if TYPE_CHECKING:
    from kiosk.screens.app import KioskApp


async def shoot_both(app: KioskApp, shot: Any, name: str) -> None:
    """The shot `name-zh`, then `name-en` (and the language back)."""
    await frames(3)
    shot(f"{name}-zh")
    app.toggle_language()
    await frames(3)
    shot(f"{name}-en")
    app.toggle_language()
    await frames(2)


async def receipt_settled(steps: Any) -> None:
    """A flow's receipt printed or given up (its `receipt_state` past printing)."""
    await wait_for(lambda: steps.receipt_state not in ("", "printing"), timeout_s=15, what="the receipt")
    await frames(3)


async def wait_started(app: KioskApp, timeout_s: float = 20.0) -> None:
    await wait_for(lambda: app.screens is not None and app.root is not None and app.root.parent is not None,
                   timeout_s=timeout_s, what="the app to start")
    await frames(3)


async def type_house(app: KioskApp, text: str) -> None:
    """Clear the display and type `text` on the on-screen keypad."""
    entry = app.screen("entry")
    await tap(key_widget(entry, "clear"))
    for char in text:
        await tap(key_widget(entry, char))


def key_widget(entry: Any, key: str) -> Any:
    return find(entry, lambda w: isinstance(w, KeypadKey) and w.key == key)


async def show(app: KioskApp, name: str, timeout_s: float = 15.0) -> Any:
    """Wait until screen `name` is showing and laid out; return it."""
    await wait_for(lambda: app.screens.current == name and not app.flow.payment.busy,
                   timeout_s=timeout_s, what=f"screen {name!r}")
    await frames(3)
    return app.screen(name)


async def lookup(app: KioskApp, house: str, expect: str) -> Any:
    if app.screens.current != "entry":
        await go_home(app)
        await tap(app.screen("idle").ids.pay)
        await show(app, "entry")
    await type_house(app, house)
    await tap(app.screen("entry").ids.confirm)
    return await show(app, expect)


async def go_home(app: KioskApp) -> None:
    while app.screens.current != "idle":
        await tap(app.screen(app.screens.current).ids.bar.ids.back)
    await show(app, "idle")


async def start_payment(app: KioskApp, house: str) -> Any:
    """Look up `house` and press Pay: returns the screen that follows (swipe,
    or a message)."""
    await lookup(app, house, "bill")
    await tap(app.screen("bill").ids.pay)
    await wait_for(lambda: app.screens.current in ("swipe", "message") and not app.flow.payment.busy,
                   timeout_s=10, what="the swipe screen")
    return await show(app, app.screens.current)


async def type_amount(app: KioskApp, text: str) -> None:
    """Clear the amount keypad's display and type `text` ("100", "50.5")."""
    screen = app.screen("card_amount")
    for key in ["clear", *text]:
        await tap(find(screen, lambda w: isinstance(w, AmountKey) and w.key == key))   # find() calls it now


def set_out_of_service(app: KioskApp, value: bool) -> None:
    """As staff's out_of_service / in_service command: through the fleet service when there is one."""
    fleet = app.kiosk.fleet
    if fleet is not None:
        fleet.set_out_of_service(value)
    else:
        app.flow.set_out_of_service(value)


def snapshot(app: KioskApp, path: Path, *, with_bench: bool = False) -> Path:
    """A PNG of the resident's screen, or with the bench beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    (app.root if with_bench else app.kiosk_area).export_to_png(str(path))
    return path
