"""Simulated touches and waits for the tour and the UI tests. They go through
Kivy's event loop exactly like a touchscreen's events (modelled on
kivy.tests.async_common, written for this app)."""
from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

from kivy.base import EventLoop
from kivy.clock import Clock
from kivy.input.motionevent import MotionEvent
from kivy.uix.widget import Widget

_ids = itertools.count(1000)


class SimTouch(MotionEvent):
    def __init__(self, x: float, y: float) -> None:
        win = EventLoop.window
        super().__init__("kiosk-sim", next(_ids), {"sx": x / (win.width - 1.0), "sy": y / (win.height - 1.0)},
                         is_touch=True, type_id="touch")
        self.profile = ["pos"]

    def depack(self, args: dict[str, float]) -> None:
        self.sx, self.sy = args["sx"], args["sy"]
        super().depack(args)


async def frames(n: int = 1, *, deadline_s: float = 5.0) -> None:
    """Let Kivy draw `n` more frames."""
    target = Clock.frames + n
    end = time.monotonic() + deadline_s
    while Clock.frames < target:
        if time.monotonic() > end:
            raise TimeoutError(f"Kivy drew no frame in {deadline_s} s")
        await asyncio.sleep(1 / 120)


async def wait_for(condition: Callable[[], Any], *, timeout_s: float = 10.0, what: str = "") -> Any:
    """Wait (frame by frame) until condition() is truthy; return its value."""
    end = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what or condition}")
        await frames(1)


async def tap(widget: Widget, *, hold_s: float = 0.05, settle: bool = True,
              allow_disabled: bool = False) -> None:
    """Touch down and up at the widget's centre (window coordinates). With
    settle=False it returns right after the touch is released, before the
    event loop runs anything the tap started (to observe a busy state)."""
    if widget.disabled and not allow_disabled:
        raise AssertionError(f"cannot tap disabled {widget!r}")
    x, y = widget.to_window(*widget.center)
    touch = SimTouch(x, y)
    EventLoop.post_dispatch_input("begin", touch)
    await frames(1)
    await asyncio.sleep(hold_s)
    EventLoop.post_dispatch_input("end", touch)
    if settle:
        await frames(1)


def walk(root: Widget) -> Iterator[Widget]:
    yield root
    for child in root.children:
        yield from walk(child)


def find(root: Widget, predicate: Callable[[Widget], bool]) -> Widget:
    for widget in walk(root):
        if predicate(widget):
            return widget
    raise LookupError("no widget matches")


def tap_now(widget: Widget) -> None:
    """Touch down and up at once, without letting the event loop run (a double tap)."""
    x, y = widget.to_window(*widget.center)
    touch = SimTouch(x, y)
    EventLoop.post_dispatch_input("begin", touch)
    EventLoop.post_dispatch_input("end", touch)
