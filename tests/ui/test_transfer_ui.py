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
