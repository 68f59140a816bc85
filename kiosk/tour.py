"""A guided tour: drive the running app through every screen by simulated
touch and save a PNG of the kiosk area at each step (`kiosk demo --tour DIR`).

    app = KioskApp(kiosk, controls=controls)
    async def main():
        run = asyncio.create_task(app.async_run(async_lib="asyncio"))
        shots = await run_tour(app, Path("tour"))   # stops the app at the end
        await run
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk import ui_env  # noqa: F401

if TYPE_CHECKING:
    from kiosk.screens.app import KioskApp

log = logging.getLogger(__name__)

BILL_HOUSE = "3-2-1202"      # arrears, late fee and the latest month (host.seed.DEMO_HOUSES)
PAID_HOUSE = "1-1-101"       # nothing due
UNKNOWN_HOUSE = "88-8-8888"  # well-formed, not on the estate


async def wait_started(app: KioskApp, timeout_s: float = 20.0) -> None:
    from kiosk.screens.touch import frames, wait_for

    await wait_for(lambda: app.screens is not None and app.root is not None and app.root.parent is not None,
                   timeout_s=timeout_s, what="the app to start")
    await frames(3)


async def type_house(app: KioskApp, text: str) -> None:
    """Clear the display and type `text` on the on-screen keypad."""
    from kiosk.screens.touch import tap

    entry = app.screen("entry")
    await tap(key_widget(entry, "clear"))
    for char in text:
        await tap(key_widget(entry, char))


def key_widget(entry: Any, key: str) -> Any:
    from kiosk.screens.entry import KeypadKey
    from kiosk.screens.touch import find

    return find(entry, lambda w: isinstance(w, KeypadKey) and w.key == key)


async def show(app: KioskApp, name: str, timeout_s: float = 15.0) -> Any:
    """Wait until screen `name` is showing and laid out; return it."""
    from kiosk.screens.touch import frames, wait_for

    await wait_for(lambda: app.screens.current == name and not app.flow.busy,
                   timeout_s=timeout_s, what=f"screen {name!r}")
    await frames(3)
    return app.screen(name)


async def lookup(app: KioskApp, house: str, expect: str) -> Any:
    from kiosk.screens.touch import tap

    if app.screens.current != "entry":
        await go_home(app)
        await tap(app.screen("idle").ids.pay)
        await show(app, "entry")
    await type_house(app, house)
    await tap(app.screen("entry").ids.confirm)
    return await show(app, expect)


async def go_home(app: KioskApp) -> None:
    from kiosk.screens.touch import tap

    while app.screens.current != "idle":
        await tap(app.screen(app.screens.current).ids.bar.ids.back)
    await show(app, "idle")


async def set_host(app: KioskApp, running: bool) -> None:
    """Flip the reference host with the bench's switch, by touch."""
    from kiosk.screens.touch import tap, wait_for

    bench = app.bench
    if bench is None:
        raise RuntimeError("the tour needs the device bench (KioskApp(..., controls=...))")
    if bench.host_running != running:
        await tap(bench.ids.host_switch)
    await wait_for(lambda: not bench.switching and bench.host_running == running,
                   timeout_s=20, what=f"host running={running}")


def snapshot(app: KioskApp, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    app.kiosk_area.export_to_png(str(path))
    return path


async def run_tour(app: KioskApp, out_dir: Path, *, bill_house: str = BILL_HOUSE,
                   paid_house: str = PAID_HOUSE, unknown_house: str = UNKNOWN_HOUSE) -> list[Path]:
    from kiosk.screens.touch import frames, tap, wait_for

    out_dir = Path(out_dir)
    shots: list[Path] = []

    def shot(name: str) -> None:
        shots.append(snapshot(app, out_dir / f"{len(shots) + 1:02d}-{name}.png"))

    try:
        await wait_started(app)
        idle = await show(app, "idle")
        if app.lang != "zh":
            await tap(idle.ids.lang)
        shot("idle-zh")
        await tap(idle.ids.lang)
        await frames(2)
        shot("idle-en")
        await tap(idle.ids.lang)

        await tap(idle.ids.pay)
        await show(app, "entry")
        await type_house(app, bill_house)
        await frames(2)
        shot("entry-typed")

        await tap(app.screen("entry").ids.confirm)
        await show(app, "bill")
        shot(f"bill-{bill_house}")
        await tap(app.screen("bill").ids.pay)
        await show(app, "message")
        shot("pay-coming-soon")
        await tap(app.screen("message").ids.bar.ids.back)   # back to the bill
        await show(app, "bill")
        await tap(app.screen("bill").ids.bar.ids.back)      # back to the keypad

        await lookup(app, paid_house, "bill")
        shot(f"nothing-due-{paid_house}")
        await tap(app.screen("bill").ids.bar.ids.back)

        await lookup(app, unknown_house, "message")
        shot("unknown-house")
        await tap(app.screen("message").ids.action)          # enter again
        await show(app, "entry")

        if app.bench is not None:
            await set_host(app, False)
            await lookup(app, bill_house, "message")
            shot("host-unavailable")
            await set_host(app, True)
            await tap(app.screen("message").ids.action)      # retry
            await show(app, "bill")
            shot("retry-after-host-back")
        else:
            log.warning("tour: no device bench, so no host-down screens")

        await go_home(app)
        await tap(app.screen("idle").ids.card)
        await show(app, "message")
        shot("card-services")

        start = app.idle_remaining
        await wait_for(lambda: app.idle_remaining < start, timeout_s=5, what="the countdown to tick")
        shot("countdown")
        app.timer.expire_now()
        await show(app, "idle")
        shot("back-to-idle")
    finally:
        app.stop()
    log.info("tour: %d screenshots in %s", len(shots), out_dir)
    return shots
