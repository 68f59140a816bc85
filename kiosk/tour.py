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
PAY_CARD = "0017"            # ICBC debit, PIN 123456 (config/test-cards.toml)
PAY_PIN = "123456"
DECLINE_CARD = "0001"        # ABC debit, expired, PIN 222222
DECLINE_PIN = "222222"


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

    await wait_for(lambda: app.screens.current == name and not app.flow.payment.busy,
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


def snapshot(app: KioskApp, path: Path, *, with_bench: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (app.root if with_bench else app.kiosk_area).export_to_png(str(path))
    return path


# --- the device bench, by touch -------------------------------------------------------
def _bench(app: KioskApp) -> Any:
    if app.bench is None:
        raise RuntimeError("this step needs the device bench (KioskApp(..., controls=...))")
    return app.bench


async def bench_tap(app: KioskApp, widget: Any) -> None:
    """Scroll the bench to `widget` and touch it."""
    from kiosk.screens.touch import frames, tap

    scroll = _bench(app).ids.scroll
    x, y = widget.to_window(*widget.center)
    sx, sy = scroll.to_window(scroll.x, scroll.y)
    if not (sy + 4 < y < sy + scroll.height - 4):
        scroll.scroll_to(widget, padding=12, animate=False)
        await frames(2)
    await tap(widget)


def wallet_button(app: KioskApp, which: str) -> Any:
    """The bench's wallet button of the card whose PAN ends in `which`, or
    "damaged" for the damaged stripe."""
    from kiosk.bench.panel import WalletCard
    from kiosk.screens.touch import find

    def match(w: Any) -> bool:
        if not isinstance(w, WalletCard):
            return False
        pan = getattr(w.card, "pan", None)
        return pan is None if which == "damaged" else bool(pan and pan.endswith(which))

    return find(_bench(app), match)


def pad_key(app: KioskApp, key: str) -> Any:
    from kiosk.bench.panel import BenchButton
    from kiosk.screens.touch import find

    return find(_bench(app), lambda w: isinstance(w, BenchButton) and getattr(w, "key", None) == key)


async def swipe(app: KioskApp, which: str) -> None:
    """Wait until the reader is armed, then tap that card in the bench's wallet."""
    from kiosk.screens.touch import wait_for

    sims = app.kiosk.sims
    assert sims is not None and sims.reader is not None
    reader = sims.reader
    await wait_for(lambda: reader.armed, timeout_s=10, what="the card reader to be armed")
    await bench_tap(app, wallet_button(app, which))


async def press_pad(app: KioskApp, keys: list[str] | str, *, wait_entering: bool = True) -> None:
    """Keys on the bench's PIN pad ("123" = three digits; or a list such as ["clear"])."""
    from kiosk.screens.touch import wait_for

    sims = app.kiosk.sims
    assert sims is not None and sims.pinpad is not None
    pinpad = sims.pinpad
    if wait_entering:
        await wait_for(lambda: pinpad.entering, timeout_s=10, what="the PIN pad to collect a PIN")
    for key in keys:
        await bench_tap(app, pad_key(app, key))


async def enter_pin(app: KioskApp, pin: str) -> None:
    await press_pad(app, [*pin, "enter"])


# --- IC cards (卡务), by touch on the screen and the bench -----------------------------------
CARD_HOLDER = "00002601000000000001"    # 张伟, contact, PIN 123456 (config/test-cards.toml [[ic_card]])
CARD_HOLDER_PIN = "123456"
OTHER_CARD = "00002601000000000002"     # 李娜, contactless, PIN 654321
LOST_CARD = "00002601000000000004"      # 刘洋, reported lost (blacklisted)


def ic_row(app: KioskApp, serial: str) -> Any:
    """The bench's row of the IC card `serial`."""
    from kiosk.bench.panel import IcCardRow
    from kiosk.screens.touch import find

    return find(_bench(app), lambda w: isinstance(w, IcCardRow) and w.serial == serial)


async def ic_card(app: KioskApp, serial: str, action: str) -> None:
    """On the bench: "insert" (contact reader), "tap" (contactless), "remove" or "pull"."""
    from kiosk.screens.touch import wait_for

    import asyncio

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


async def open_card(app: KioskApp, serial: str, action: str = "insert") -> Any:
    """From wherever: 卡务 on the idle screen, then the card into a reader: the card screen."""
    from kiosk.screens.touch import tap

    if app.screens.current != "idle":
        await go_home(app)
    await tap(app.screen("idle").ids.card)
    await show(app, "card_insert")
    await ic_card(app, serial, action)
    return await show(app, "card")


async def type_amount(app: KioskApp, text: str) -> None:
    """Clear the amount keypad's display and type `text` ("100", "50.5")."""
    from kiosk.screens.card_widgets import AmountKey
    from kiosk.screens.touch import find, tap

    screen = app.screen("card_amount")
    for key in ["clear", *text]:
        await tap(find(screen, lambda w: isinstance(w, AmountKey) and w.key == key))   # find() calls it now


async def start_payment(app: KioskApp, house: str) -> Any:
    """Look up `house` and press Pay: returns the screen that follows (swipe,
    or a message)."""
    from kiosk.screens.touch import tap, wait_for

    await lookup(app, house, "bill")
    await tap(app.screen("bill").ids.pay)
    await wait_for(lambda: app.screens.current in ("swipe", "message") and not app.flow.payment.busy,
                   timeout_s=10, what="the swipe screen")
    return await show(app, app.screens.current)


async def pay_tour(app: KioskApp, house: str, shot: Any) -> None:
    """The card payment screens, from the bill on screen: swipe, a decline,
    the PIN with three digits typed, processing (if the bank is slow enough to
    catch it), approved with the receipt on the bench."""
    from kiosk.screens.touch import frames, tap, wait_for

    bill = app.screen("bill")
    if bill.nothing_due:
        log.warning("tour: %s has nothing due (paid on an earlier run?): no payment screens", house)
        return
    await tap(bill.ids.pay)
    screen = await wait_for(lambda: app.screens.current in ("swipe", "message") and not app.flow.payment.busy
                            and app.screens.current, timeout_s=10, what="the swipe screen")
    if screen == "message":     # no paper, or payments suspended
        await show(app, "message")
        shot("pay-" + app.flow.msg_title.split(".")[1].replace("_", "-"))
        if app.flow.msg_action != "no_receipt":
            return
        await tap(app.screen("message").ids.action)
    await show(app, "swipe")
    await frames(10)            # the card is part-way through the slot
    shot("swipe")
    await swipe(app, "damaged")
    await wait_for(lambda: app.flow.bank.swipe_again, timeout_s=10, what="'please swipe again'")
    await frames(3)
    shot("swipe-again")
    await swipe(app, DECLINE_CARD)
    await show(app, "pin")
    await enter_pin(app, DECLINE_PIN)
    await show(app, "result")
    shot("declined")
    await tap(app.screen("result").ids.action)          # use another card
    await show(app, "swipe")
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await press_pad(app, PAY_PIN[:3])
    await wait_for(lambda: app.flow.bank.pin_digits == 3, timeout_s=5, what="three asterisks")
    await frames(2)
    shot("pin-3-digits")
    await press_pad(app, [*PAY_PIN[3:], "enter"], wait_entering=False)
    try:
        await wait_for(lambda: app.screens.current == "processing", timeout_s=2, what="processing")
        await frames(2)
        shot("processing")
    except TimeoutError:
        log.info("tour: the bank answered too fast to catch 'processing'")
    await show(app, "result")
    sims = app.kiosk.sims
    printer = sims.printer if sims is not None else None
    await wait_for(lambda: app.flow.payment.receipt_state not in ("", "printing"), timeout_s=15, what="the receipt")
    if printer is not None and app.flow.payment.receipt_state == "printed":
        await wait_for(lambda: app.bench.receipts > 0 and app.bench.receipt_texture is not None,
                       timeout_s=5, what="the receipt on the bench")
        app.bench.ids.scroll.scroll_to(app.bench.ids.receipt_section, padding=12, animate=False)
    await frames(3)
    shot("approved")
    shot("approved-with-bench", with_bench=True)
    app.bench.ids.scroll.scroll_y = 1
    await tap(app.screen("result").ids.action)          # done
    await show(app, "idle")


WALLET_HOUSE = "2-1-601"     # the latest month only: more than the purse holds, less than the passbook


async def card_tour(app: KioskApp, shot: Any) -> None:
    """The card services screens (卡务), from the idle screen, cards moved on the
    bench: insert, a load from a bank card (amount, processing if caught, the
    result with the receipt), the card with its history, a load torn by pulling
    the card and finished when it is back, a lost card, and the bill paid from
    the passbook (the pay choice, the wallet choice, the card PIN)."""
    from kiosk.screens.card_widgets import PresetButton
    from kiosk.screens.touch import find, frames, tap, wait_for

    cards = app.flow.cards

    def preset(yuan: str) -> Any:
        return find(app.screen("card_amount"), lambda w: isinstance(w, PresetButton) and w.amount.yuan == yuan)

    async def load(yuan: str) -> None:
        await tap(app.screen("card").ids.load)
        await show(app, "card_amount")
        await tap(preset(yuan))
        await frames(2)

    await tap(app.screen("idle").ids.card)
    await show(app, "card_insert")
    await frames(10)            # the cards part-way to the readers
    shot("card-insert")
    await ic_card(app, CARD_HOLDER, "insert")
    await show(app, "card")
    await load("100.00")
    shot("card-load-amount")
    await tap(app.screen("card_amount").ids.next)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await press_pad(app, [*PAY_PIN, "enter"])
    try:
        await wait_for(lambda: app.screens.current == "card_processing", timeout_s=2, what="processing")
        await frames(2)
        shot("card-processing")
    except TimeoutError:
        log.info("tour: the card centre answered too fast to catch 'processing'")
    await show(app, "card_result")
    await wait_for(lambda: cards.receipt_state not in ("", "printing"), timeout_s=15, what="the receipt")
    await frames(3)
    shot("card-load-result")
    await tap(app.screen("card_result").ids.second)     # back to my card: read afresh
    await show(app, "card")
    shot("card-history")

    await load("50.00")                                  # a tear: the card is pulled during its write
    await tap(app.screen("card_amount").ids.next)
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    if not app.bench.tear_armed:
        await bench_tap(app, app.bench.ids.ic_tear)
    await press_pad(app, [*PAY_PIN, "enter"])
    await show(app, "card_tear")
    await wait_for(lambda: cards.tear_remaining < cards.tear_wait_s, timeout_s=3, what="the countdown")
    await frames(3)
    shot("card-tear")
    shot("card-tear-with-bench", with_bench=True)
    await ic_card(app, CARD_HOLDER, "insert")            # the same card back: asked, never guessed
    await show(app, "card_result")
    await wait_for(lambda: cards.receipt_state not in ("", "printing"), timeout_s=15, what="the receipt")
    shot("card-tear-finished")
    await tap(app.screen("card_result").ids.action)      # done
    await show(app, "idle")
    await ic_card(app, CARD_HOLDER, "remove")

    await tap(app.screen("idle").ids.card)
    await show(app, "card_insert")
    await ic_card(app, LOST_CARD, "tap")
    await show(app, "message")
    shot("card-lost")
    await ic_card(app, LOST_CARD, "remove")
    await tap(app.screen("message").ids.action)
    await show(app, "idle")

    bill = await lookup(app, WALLET_HOUSE, "bill")
    if bill.nothing_due:
        log.warning("tour: %s has nothing due: no pay-from-wallet screens", WALLET_HOUSE)
        return
    shot("bill-pay-choice")
    await tap(bill.ids.pay_wallet)
    await show(app, "card_insert")
    await ic_card(app, CARD_HOLDER, "insert")
    choose = await show(app, "card_wallet")
    shot("card-choose-wallet")
    if not choose.ids.ed.usable:
        log.warning("tour: the passbook holds too little to pay %s", WALLET_HOUSE)
        await tap(choose.ids.cancel)
        return
    await tap(choose.ids.ed)
    await show(app, "card_pin")
    await press_pad(app, CARD_HOLDER_PIN[:3])
    await wait_for(lambda: cards.pin_digits == 3, timeout_s=5, what="three dots")
    await frames(2)
    shot("card-pin")
    await press_pad(app, [*CARD_HOLDER_PIN[3:], "enter"], wait_entering=False)
    await show(app, "card_result")
    await wait_for(lambda: cards.receipt_state not in ("", "printing"), timeout_s=15, what="the receipt")
    shot("card-pay-result")
    await tap(app.screen("card_result").ids.action)
    await show(app, "idle")
    await ic_card(app, CARD_HOLDER, "remove")


def set_out_of_service(app: KioskApp, value: bool) -> None:
    """As staff's out_of_service / in_service command: through the fleet service when there is one."""
    fleet = app.kiosk.fleet
    if fleet is not None:
        fleet.set_out_of_service(value)
    else:
        app.flow.set_out_of_service(value)


async def run_tour(app: KioskApp, out_dir: Path, *, bill_house: str = BILL_HOUSE,
                   paid_house: str = PAID_HOUSE, unknown_house: str = UNKNOWN_HOUSE) -> list[Path]:
    from kiosk.screens.touch import frames, tap, wait_for

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

        if app.bench is not None and app.flow.payments_enabled:
            await pay_tour(app, bill_house, shot)
        elif app.flow.payments_enabled:
            log.warning("tour: no device bench, so no card payment screens")

        await go_home(app)
        if app.flow.wallet_enabled and app.bench is not None:
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
    finally:
        app.stop()
    log.info("tour: %d screenshots in %s", len(shots), out_dir)
    return shots
