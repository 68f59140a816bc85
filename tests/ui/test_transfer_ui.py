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
                   TransferCard("onecard", "B1C20001", "contactless", None, Money(16_777_215))]
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
