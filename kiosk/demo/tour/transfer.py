"""The tour's 转账 leg (docs/cards.md §7), cards put on the bench: two IC
cards in the two readers, from / to, the amount, the confirmation, the
result; then a transfer whose source is pulled during its write, the tear
screen, and the same card back. Each screen is shot in Chinese and English."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from kiosk import ui_env  # noqa: F401  (Kivy's environment, before Kivy loads)

from kiosk.demo.tour.bench import bench, bench_tap, ic_card
from kiosk.demo.tour.cast import CARD_HOLDER, OTHER_CARD
from kiosk.demo.tour.screens import go_home, receipt_settled, shoot_both, show
from kiosk.demo.touch import find, frames, tap, wait_for
from kiosk.screens.card_services.transfer_screens import TransferCardRow, TransferPreset

if TYPE_CHECKING:
    from kiosk.screens.app import KioskApp


async def open_transfer(app: KioskApp) -> Any:
    """卡务 on the idle screen (no card in the readers yet), then 转账, then both
    cards put in (张伟's in the slot, 李娜's on the reader), read."""
    if app.screens.current != "idle":
        await go_home(app)
    await tap(app.screen("idle").ids.card)
    insert = await show(app, "card_insert")
    await tap(insert.ids.transfer)
    screen = await show(app, "transfer")
    await ic_card(app, CARD_HOLDER, "insert")
    await ic_card(app, OTHER_CARD, "tap")
    await pcsc_sees(app, "contact")
    await pcsc_sees(app, "contactless")
    steps = app.flow.transfers
    def ic_cards() -> int:             # the bank card's row is always there
        return sum(1 for c in steps.cards if c.kind != "bank")
    for _ in range(5):                 # the first read may have run before both cards were in
        await wait_for(lambda: not steps.reading, timeout_s=30, what="the cards read")
        if ic_cards() == 2:
            break
        await tap(screen.ids.rescan)
        await frames(2)
    await wait_for(lambda: not steps.reading and ic_cards() == 2, timeout_s=30, what="both cards read")
    await frames(3)
    return screen


async def pcsc_sees(app: KioskApp, reader: str) -> None:
    """Until PC/SC has seen the card the bench put in `reader`."""
    wallet = app.kiosk.wallet
    assert wallet is not None
    for _ in range(250):
        if await asyncio.to_thread(wallet.card_present, reader):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"PC/SC does not see a card in {reader}")


def card_row(app: KioskApp, serial: str) -> Any:
    """The row of the card `serial` ("": the bank card's)."""
    index = next(i for i, c in enumerate(app.flow.transfers.cards) if c.card == serial)
    return find(app.screen("transfer"), lambda w: isinstance(w, TransferCardRow) and w.index == index)


async def choose(app: KioskApp, src: str, dst: str, yuan: str, on_amount: Any = None) -> Any:
    """From, To, Next, a preset (then `on_amount()`, e.g. its shots), Next: the confirmation screen."""
    await tap(card_row(app, src).ids.from_btn)
    await frames(2)
    await tap(card_row(app, dst).ids.to_btn)
    await frames(2)
    await tap(app.screen("transfer").ids.next)
    amount = await show(app, "transfer_amount")
    await frames(2)
    await tap(find(amount, lambda w: isinstance(w, TransferPreset) and w.amount.yuan == yuan))
    await frames(2)
    if on_amount is not None:
        await on_amount()
    await tap(amount.ids.next)
    return await show(app, "transfer_confirm")


async def wait_receipt(app: KioskApp) -> None:
    await receipt_settled(app.flow.transfers)


async def transfer_tour(app: KioskApp, shot: Any) -> None:
    async def both(name: str) -> None:
        await shoot_both(app, shot, name)

    await open_transfer(app)
    await both("transfer-cards")
    confirm = await choose(app, CARD_HOLDER, OTHER_CARD, "10.00", lambda: both("transfer-amount"))
    await both("transfer-confirm")
    await tap(confirm.ids.confirm)
    await show(app, "transfer_result", timeout_s=30)
    await wait_receipt(app)
    await both("transfer-result")
    await tap(app.screen("transfer_result").ids.done)
    await show(app, "idle")
    await ic_card(app, CARD_HOLDER, "remove")
    await ic_card(app, OTHER_CARD, "remove")

    await open_transfer(app)                                   # a tear: the source pulled during its debit
    confirm = await choose(app, CARD_HOLDER, OTHER_CARD, "10.00")
    if not bench(app).ic_cards.tear_armed:
        await bench_tap(app, bench(app).ic_cards.ids.ic_tear)
    await tap(confirm.ids.confirm)
    tear = await show(app, "transfer_tear", timeout_s=30)
    await both("transfer-tear")
    await ic_card(app, CARD_HOLDER, "insert")                  # the same card back: its proof decides
    await pcsc_sees(app, "contact")
    await tap(tear.ids.back_in)
    await show(app, "transfer_result", timeout_s=30)
    await wait_receipt(app)
    await both("transfer-tear-finished")
    await tap(app.screen("transfer_result").ids.done)
    await show(app, "idle")
    await ic_card(app, CARD_HOLDER, "remove")
    await ic_card(app, OTHER_CARD, "remove")
    await go_home(app)
