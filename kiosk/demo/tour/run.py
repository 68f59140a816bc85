"""A guided tour: drive the running app through every screen by simulated
touch and save a PNG of the kiosk area at each step (`kiosk demo --tour DIR`).

    app = KioskApp(kiosk, side_panel=bench_panel(controls, kiosk))
    async def main():
        run = asyncio.create_task(app.async_run(async_lib="asyncio"))
        shots = await run_tour(app, Path("tour"))   # stops the app at the end
        await run
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk import ui_env  # noqa: F401  (Kivy's environment, before Kivy loads)

from kiosk.demo.tour.bankcard import bankcard_tour
from kiosk.demo.tour.bench import has_bench, set_host
from kiosk.demo.tour.cards import card_tour
from kiosk.demo.tour.meter import meter_tour
from kiosk.demo.tour.cast import BILL_HOUSE, PAID_HOUSE, UNKNOWN_HOUSE
from kiosk.demo.tour.onecard import onecard_tour
from kiosk.demo.tour.transfer import transfer_tour
from kiosk.demo.tour.payment import pay_tour
from kiosk.demo.tour.screens import go_home, lookup, set_out_of_service, show, snapshot, type_house, wait_started
from kiosk.demo.touch import frames, tap, wait_for

if TYPE_CHECKING:
    from kiosk.screens.app import KioskApp

log = logging.getLogger(__name__)


async def run_tour(app: KioskApp, out_dir: Path, *, bill_house: str = BILL_HOUSE,
                   paid_house: str = PAID_HOUSE, unknown_house: str = UNKNOWN_HOUSE) -> list[Path]:

    out_dir = Path(out_dir)
    shots: list[Path] = []

    def shot(name: str, *, with_bench: bool = False) -> None:
        shots.append(snapshot(app, out_dir / f"{len(shots) + 1:02d}-{name}.png", with_bench=with_bench))

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
        if not app.flow.payments_enabled:
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

        if has_bench(app):
            await set_host(app, False)
            await lookup(app, bill_house, "message")
            shot("host-unavailable")
            await set_host(app, True)
            await tap(app.screen("message").ids.action)      # retry
            await show(app, "bill")
            shot("retry-after-host-back")
        else:
            log.warning("tour: no device bench, so no host-down screens")

        if has_bench(app) and app.flow.payments_enabled:
            await pay_tour(app, bill_house, shot)
        elif app.flow.payments_enabled:
            log.warning("tour: no device bench, so no card payment screens")

        await go_home(app)
        if app.flow.wallet_enabled and has_bench(app):
            await card_tour(app, shot)
            await tap(app.screen("idle").ids.card)       # the countdown, from the card insert screen
            await show(app, "card_insert")
        else:
            await tap(app.screen("idle").ids.card)
            await show(app, "message")
            shot("card-services")

        start = app.idle_remaining
        await wait_for(lambda: app.idle_remaining < start, timeout_s=5, what="the countdown to tick")
        shot("countdown")
        assert app.timer is not None     # built with the app
        app.timer.expire_now()
        await show(app, "idle")
        shot("back-to-idle")

        set_out_of_service(app, True)                    # what staff's console command does
        await show(app, "out_of_service")
        shot("out-of-service")
        set_out_of_service(app, False)
        await show(app, "idle")

        # last, so the earlier shots keep their numbers (README links them)
        if app.flow.offers("bankcard") and has_bench(app):
            await bankcard_tour(app, shot)
        if app.flow.wallet_enabled and has_bench(app) and app.flow.cards.onecard is not None:
            await onecard_tour(app, shot)            # the estate one-card, after every other leg
        if app.flow.offers("meter") and has_bench(app):
            await meter_tour(app, shot)
        if app.flow.transfers is not None and has_bench(app):
            await transfer_tour(app, shot)           # 转账, last: the earlier shots keep their numbers
    finally:
        app.stop()
    log.info("tour: %d screenshots in %s", len(shots), out_dir)
    return shots
