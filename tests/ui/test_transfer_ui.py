"""转账 by touch (docs/cards.md §7): two of the bench's CPU cards in the two
readers of a real (private) pcscd, the real transfer service and host. One
transfer from 张伟's card to 李娜's, then one whose source is pulled during
its write and put back; each screen shot in zh and en (the tour's leg). What
the cards and the host hold afterwards is read from them, not the screens."""
from __future__ import annotations

from typing import Any

import pytest

from common.epurse import Wallet
from kiosk.demo.tour.cast import CARD_HOLDER, OTHER_CARD
from kiosk.demo.tour.screens import snapshot
from kiosk.demo.tour.transfer import transfer_tour

pytestmark = [pytest.mark.ui, pytest.mark.kiosk_wallet]


def host_transfers(host: Any) -> list[tuple[str, int]]:
    from sqlalchemy import text

    with host.engine.connect() as conn:
        return [(str(r[0]), int(r[1])) for r in conn.execute(text("SELECT state, amount_fen FROM transfers ORDER BY id"))]


@pytest.mark.timeout(240)
async def test_a_transfer_and_a_torn_one_by_touch(kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    app = kiosk_app
    cards = app.kiosk.sims.ic_cards
    before = (cards[CARD_HOLDER].balance(Wallet.EP), cards[OTHER_CARD].balance(Wallet.EP))
    receipts = len(app.kiosk.sims.printer.receipts)
    shots: list[Any] = []
    out = artifacts / "transfer"

    def shot(name: str) -> None:
        shots.append(snapshot(app, out / f"{len(shots) + 1:02d}-{name}.png"))

    await transfer_tour(app, shot)
    assert [p.stem.split("-", 1)[1] for p in shots] == [
        f"{name}-{lang}" for name in ("transfer-cards", "transfer-amount", "transfer-confirm", "transfer-result", "transfer-tear",
                                      "transfer-tear-finished") for lang in ("zh", "en")]
    assert all(p.stat().st_size > 10_000 for p in shots)
    # both transfers of ¥10.00 went through (the torn one as the card proved it): the cards and the host agree
    assert (cards[CARD_HOLDER].balance(Wallet.EP), cards[OTHER_CARD].balance(Wallet.EP)) == (
        before[0] - 2_000, before[1] + 2_000)
    assert host_transfers(ui_host)[-2:] == [("completed", 1_000), ("completed", 1_000)]
    new = app.kiosk.sims.printer.receipts[receipts:]
    assert len(new) == 2 and all("转账凭条" in r.text for r in new)
    assert all(f"****{CARD_HOLDER[-4:]}" in r.text and f"****{OTHER_CARD[-4:]}" in r.text for r in new)


@pytest.mark.timeout(120)
async def test_a_bank_card_to_a_cpu_card_from_the_transfer_screen(kiosk_app: Any, ui_host: Any) -> None:
    """The bank card as From (swipe + PIN after the confirmation), 李娜's card as To: the
    wallet's load runs; the card holds it, the receipt names both cards masked."""
    import asyncio

    from kiosk.demo.tour.bench import enter_pin, ic_card, swipe
    from kiosk.demo.tour.cast import PAY_CARD, PAY_PIN
    from kiosk.demo.tour.screens import go_home, show
    from kiosk.demo.tour.transfer import choose, open_transfer, wait_receipt
    from kiosk.demo.touch import tap

    app = kiosk_app
    cards, printer = app.kiosk.sims.ic_cards, app.kiosk.sims.printer
    before, receipts = cards[OTHER_CARD].balance(Wallet.EP), len(printer.receipts)
    await open_transfer(app)
    confirm = await choose(app, "", OTHER_CARD, "10.00")            # "": the bank card's row
    await tap(confirm.ids.confirm)
    await show(app, "swipe")
    await swipe(app, PAY_CARD)
    await show(app, "pin")
    await enter_pin(app, PAY_PIN)
    await show(app, "transfer_result", timeout_s=30)
    steps = app.flow.transfers
    assert steps.result_kind == "approved", steps.result_body
    await wait_receipt(app)
    assert cards[OTHER_CARD].balance(Wallet.EP) == before + 1_000
    await asyncio.to_thread(printer.wait_for_receipt, 10)
    (receipt,) = printer.receipts[receipts:]
    assert "转账凭条" in receipt.text and f"****{OTHER_CARD[-4:]}" in receipt.text
    assert "622202" in receipt.text and OTHER_CARD not in receipt.text and "6222021000000000017" not in receipt.text
    await tap(app.screen("transfer_result").ids.done)
    await show(app, "idle")
    await ic_card(app, CARD_HOLDER, "remove")
    await ic_card(app, OTHER_CARD, "remove")
    await go_home(app)


RESOLUTIONS = [(1024, 768), (1080, 1920)]   # the smallest landscape and the portrait: the tightest fits


@pytest.mark.parametrize("width,height", RESOLUTIONS, ids=[f"{w}x{h}" for w, h in RESOLUTIONS])
async def test_transfer_screens_fit(kiosk_app: Any, artifacts: Any, width: int, height: int) -> None:
    """Each transfer screen, staged through the flow's properties with its longest texts, in both
    languages at every supported resolution: nothing clipped, nothing outside the kiosk area."""
    from kivy.core.window import Window

    from common.money import Money
    from kiosk.demo.bench.panel import BENCH_WIDTH
    from kiosk.demo.touch import frames, wait_for
    from kiosk.services.transfer_view import TransferCard
    from tests.support.layout import layout_problems

    app = kiosk_app
    Window.size = (width + BENCH_WIDTH, height)
    await wait_for(lambda: tuple(map(round, app.kiosk_area.size)) == (width, height), timeout_s=10, what="resize")
    steps = app.flow.transfers
    steps.cards = [TransferCard("cpu", CARD_HOLDER, "contact", Wallet.ED, Money(4_990_000)),
                   TransferCard("onecard", "B1C20001", "contactless", None, Money(16_777_215)),
                   TransferCard("bank", "")]
    steps.src, steps.dst, steps.settled = 0, 1, 2
    steps.limits_text, steps.amount, steps.amount_text = Money(200_000).display(), Money(50_000), "¥500.00"
    steps.from_text, steps.to_text, steps.tear_card = "****0001", "****0001", "****0001"
    steps.dst_after, steps.reference, steps.receipt_state = "¥167,772.15", "T26112100001", "not_printed"
    stages = [("transfer", {}), ("transfer_amount", {}), ("transfer_confirm", {}), ("transfer_processing", {}),
              ("transfer_result", {"result_kind": "approved", "result_title": "transfer.result.done.title",
                                   "result_body": "transfer.result.done"}),
              ("transfer_result", {"result_kind": "unknown", "result_title": "transfer.result.owed.title",
                                   "result_body": "transfer.result.owed"}),
              ("transfer_result", {"result_kind": "declined", "result_title": "transfer.result.declined.title",
                                   "result_body": "transfer.decline.onecard_to_bank"}),
              ("transfer_tear", {})]
    problems: list[str] = []
    for n, (screen, props) in enumerate(stages):
        for key, value in props.items():
            setattr(steps, key, value)
        app.flow.screen = screen
        for lang in ("zh", "en"):
            app.lang = lang
            await frames(3)
            app.kiosk_area.export_to_png(str(artifacts / f"{width}x{height}-{n}-{screen}-{lang}.png"))
            problems += [f"{width}x{height} {screen} {lang}: {p}"
                         for p in layout_problems(app.kiosk_area, app.kiosk_area)]
    app.lang = "zh"
    steps.reset()
    app.flow.screen = "idle"
    assert not problems, "\n".join(problems)
