"""Driving the device bench by simulated touch: the host switch, the card
wallet (swipes), the PIN pad and the IC cards, as a tester would."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from kiosk import ui_env  # noqa: F401  (Kivy's environment, before Kivy loads)

from kiosk.demo.bench.card_reader import WalletCard
from kiosk.demo.bench.ic_cards import IcCardRow
from kiosk.demo.bench.panel import BenchPanel
from kiosk.demo.bench.pin_pad import PadKey
from kiosk.demo.touch import find, frames, tap, wait_for

if TYPE_CHECKING:
    from kiosk.bootstrap import SimDevices
    from kiosk.screens.app import KioskApp


def bench(app: KioskApp) -> BenchPanel:
    """The app's side panel, which must be the device bench."""
    if not isinstance(app.side_panel, BenchPanel):
        raise RuntimeError("this step needs the device bench (KioskApp(..., side_panel=bench_panel(...)))")
    return app.side_panel


def has_bench(app: KioskApp) -> bool:
    return isinstance(app.side_panel, BenchPanel)


def sims(app: KioskApp) -> SimDevices:
    """The simulators the bench drives."""
    devices = bench(app).sims
    assert devices is not None, "the bench has no simulated devices"
    return devices


async def set_host(app: KioskApp, running: bool) -> None:
    """Flip the reference host with the bench's switch, by touch."""
    host = bench(app).host_link
    if host.host_running != running:
        await tap(host.ids.host_switch)
    await wait_for(lambda: not host.switching and host.host_running == running,
                   timeout_s=20, what=f"host running={running}")


async def bench_tap(app: KioskApp, widget: Any) -> None:
    """Scroll the bench to `widget` and touch it."""
    scroll = bench(app).ids.scroll
    x, y = widget.to_window(*widget.center)
    sx, sy = scroll.to_window(scroll.x, scroll.y)
    if not (sy + 4 < y < sy + scroll.height - 4):
        scroll.scroll_to(widget, padding=12, animate=False)
        await frames(2)
    await tap(widget)


def wallet_button(app: KioskApp, which: str) -> Any:
    """The bench's wallet button of the card whose PAN ends in `which`, or
    "damaged" for the damaged stripe."""
    def match(w: Any) -> bool:
        if not isinstance(w, WalletCard):
            return False
        pan = getattr(w.card, "pan", None)
        return pan is None if which == "damaged" else bool(pan and pan.endswith(which))

    return find(bench(app), match)


def pad_key(app: KioskApp, key: str) -> Any:
    return find(bench(app), lambda w: isinstance(w, PadKey) and w.key == key)


async def swipe(app: KioskApp, which: str) -> None:
    """Wait until the reader is armed, then tap that card in the bench's wallet."""
    reader = sims(app).reader
    assert reader is not None
    await wait_for(lambda: reader.armed, timeout_s=10, what="the card reader to be armed")
    await bench_tap(app, wallet_button(app, which))


async def press_pad(app: KioskApp, keys: list[str] | str, *, wait_entering: bool = True) -> None:
    """Keys on the bench's PIN pad ("123" = three digits; or a list such as ["clear"])."""
    pinpad = sims(app).pinpad
    assert pinpad is not None
    if wait_entering:
        await wait_for(lambda: pinpad.entering, timeout_s=10, what="the PIN pad to collect a PIN")
    for key in keys:
        await bench_tap(app, pad_key(app, key))


async def enter_pin(app: KioskApp, pin: str) -> None:
    await press_pad(app, [*pin, "enter"])


def ic_row(app: KioskApp, serial: str) -> Any:
    """The bench's row of the IC card `serial`."""
    return find(bench(app), lambda w: isinstance(w, IcCardRow) and w.serial == serial)


async def ic_card(app: KioskApp, serial: str, action: str) -> None:
    """On the bench: "insert" (contact reader), "tap" (contactless), "remove" or "pull"."""
    row = ic_row(app, serial)
    reader = {"insert": "contact", "tap": "contactless"}.get(action, row.where)
    await bench_tap(app, row.ids[action])
    if action in ("insert", "tap"):
        await wait_for(lambda: row.where == reader, timeout_s=5, what=f"card {serial[-4:]} in the reader")
        return
    await wait_for(lambda: row.where == "", timeout_s=5, what=f"card {serial[-4:]} out")
    wallet = app.kiosk.wallet
    if wallet is not None and reader:         # until PC/SC has seen it go too
        for _ in range(200):
            if not await asyncio.to_thread(wallet.card_present, reader):
                return
            await asyncio.sleep(0.02)
        raise TimeoutError(f"PC/SC still sees a card in {reader}")
