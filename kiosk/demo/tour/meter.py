"""The tour's prepaid meter leg (购电 / 购水 / 购气), run last so the earlier
shots keep their numbers: a blank meter card's number, the meter as its card
tells it, the quantity (kWh or yuan) and the quote's tiers, a bank card, the
write and the receipt; the card refused until the bench meter has taken it;
the bench meter low, then cut, then open again after a second purchase."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from kiosk import ui_env  # noqa: F401  (Kivy's environment, before Kivy loads)

from kiosk.demo.bench.meter import MeterRow
from kiosk.demo.tour.bench import bench, bench_tap, press_pad, swipe
from kiosk.demo.tour.cast import PAY_CARD, PAY_PIN
from kiosk.demo.tour.screens import go_home, receipt_settled, show
from kiosk.demo.touch import find, frames, tap, wait_for
from kiosk.screens.meter import MeterKey, MeterPreset

if TYPE_CHECKING:
    from kiosk.screens.app import KioskApp

log = logging.getLogger(__name__)

METER_CARD = "310100012345"     # 1-1-101's electricity meter (config/test-cards.toml [[meter_card]])


def meter_row(app: KioskApp, meter: str) -> Any:
    return find(bench(app), lambda w: isinstance(w, MeterRow) and w.meter == meter)


async def meter_card(app: KioskApp, meter: str, action: str) -> None:
    """On the bench: "insert" (into the kiosk), "to_meter" (out of it, into the meter and back)."""
    row = meter_row(app, meter)
    await bench_tap(app, row.ids[action])
    present = action == "insert"
    await wait_for(lambda: row.in_kiosk == present, timeout_s=5, what=f"meter card {meter} {action}")
    wallet = app.kiosk.wallet
    if wallet is not None:          # until PC/SC has seen it too
        for _ in range(200):
            if await asyncio.to_thread(wallet.card_present, "contact") == present:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError(f"PC/SC does not see the meter card {action}")


async def show_row(app: KioskApp, meter: str) -> None:
    """Scroll the bench to the meter's row (for a shot with the bench)."""
    bench(app).ids.scroll.scroll_to(meter_row(app, meter), padding=12, animate=False)
    await frames(3)


async def meter_keys(app: KioskApp, keys: str | list[str]) -> None:
    """Keys of the meter keypad: "150" = three digits, or a list such as ["clear"]."""
    screen = app.screen("meter_amount")

    def key_of(key: str) -> Any:
        return find(screen, lambda w: isinstance(w, MeterKey) and w.key == key)
    for key in keys:
        await tap(key_of(key))


async def open_meter(app: KioskApp, meter: str) -> Any:
    """From the idle screen, the card already in the kiosk or put in now: the meter
    screen (a blank card's number typed first)."""
    if app.screens.current != "idle":
        await go_home(app)
    await tap(app.screen("idle").ids.meter)
    await show(app, "meter_insert")
    if not meter_row(app, meter).in_kiosk:
        await meter_card(app, meter, "insert")
    # a read is card I/O through pcscd plus a signed check at the host: generous bounds,
    # as a busy two-core CI machine once took over 15 s for the second one
    await wait_for(lambda: app.screens.current in ("meter", "meter_amount", "message"), timeout_s=30,
                   what="the meter card read")
    if app.screens.current == "meter_amount" and app.flow.meters.entry_mode == "number":
        await meter_keys(app, meter)
        await tap(app.screen("meter_amount").ids.next)
        await wait_for(lambda: app.screens.current in ("meter", "message"), timeout_s=30, what="the card read")
    return await show(app, app.screens.current)


async def quote(app: KioskApp, preset: str) -> Any:
    """Buy, then a preset: the quote's payment screen."""
    await tap(app.screen("meter").ids.buy)
    amount = await show(app, "meter_amount")
    await frames(2)
    await tap(find(amount, lambda w: isinstance(w, MeterPreset) and w.value == preset))
    return await show(app, "meter_pay")


async def pay_by_bank_card(app: KioskApp, *, wait_result: bool = True) -> Any:
    await tap(app.screen("meter_pay").ids.bank_card)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await press_pad(app, [*PAY_PIN, "enter"])
    if not wait_result:
        return None
    result = await show(app, "meter_result", timeout_s=30)
    await receipt_settled(app.flow.meters)
    return result


async def meter_tour(app: KioskApp, shot: Any) -> None:
    meters = bench(app).meters

    async def both(screen: str, name: str) -> None:
        """The shot in Chinese, then in English (and back)."""
        shot(name)
        await tap(app.screen(screen).ids.bar.ids.lang)
        await frames(2)
        shot(f"{name}-en")
        await tap(app.screen(screen).ids.bar.ids.lang)
        await frames(2)

    await tap(app.screen("idle").ids.meter)
    await show(app, "meter_insert")
    await frames(5)
    shot("meter-insert")
    await meter_card(app, METER_CARD, "insert")
    await show(app, "meter_amount")
    await meter_keys(app, METER_CARD)
    shot("meter-number")
    await tap(app.screen("meter_amount").ids.next)
    await show(app, "meter")
    await both("meter", "meter-card")
    await tap(app.screen("meter").ids.buy)
    await show(app, "meter_amount")
    await meter_keys(app, "150")
    shot("meter-quantity-kwh")
    await tap(app.screen("meter_amount").ids.by_yuan)
    await meter_keys(app, "100")
    shot("meter-quantity-yuan")
    await tap(app.screen("meter_amount").ids.next)
    await show(app, "meter_pay")
    await both("meter_pay", "meter-pay")
    await pay_by_bank_card(app)
    await both("meter_result", "meter-result")
    await tap(app.screen("meter_result").ids.action)
    await show(app, "idle")
    await open_meter(app, METER_CARD)          # still in the kiosk: not in the meter yet
    await both("meter", "meter-not-applied")
    await show_row(app, METER_CARD)
    shot("meter-bench-before", with_bench=True)
    await tap(app.screen("meter").ids.cancel)
    await show(app, "idle")

    await meter_card(app, METER_CARD, "to_meter")
    row = meter_row(app, METER_CARD)
    await show_row(app, METER_CARD)
    shot("meter-bench-applied", with_bench=True)
    meters.speed = 50.0                         # run it down: low, then cut
    await wait_for(lambda: row.low, timeout_s=60, what="low credit")
    meters.speed = 0.0
    await show_row(app, METER_CARD)
    shot("meter-bench-low", with_bench=True)
    meters.speed = 50.0
    await wait_for(lambda: row.cut, timeout_s=30, what="the supply cut")
    meters.speed = 0.0
    await show_row(app, METER_CARD)
    shot("meter-bench-closed", with_bench=True)
    await open_meter(app, METER_CARD)
    shot("meter-card-cut")
    await quote(app, "50")
    await pay_by_bank_card(app)
    await tap(app.screen("meter_result").ids.action)
    await show(app, "idle")
    await meter_card(app, METER_CARD, "to_meter")
    await wait_for(lambda: not row.cut, timeout_s=5, what="the supply open again")
    await show_row(app, METER_CARD)
    shot("meter-bench-open-again", with_bench=True)
