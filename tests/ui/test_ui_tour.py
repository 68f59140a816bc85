"""`kiosk demo --tour`: every screen by touch, a PNG of each."""
from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.ui


@pytest.mark.kiosk_wallet
@pytest.mark.timeout(360)   # ~50 s alone; the tour is long and the cores are shared
async def test_tour_visits_every_screen(kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from host.onecard.blacklist import run_refresh
    from kiosk.demo.tour.run import run_tour

    run_refresh(ui_host.engine, ui_host.settings, ui_host.clock)   # as `kiosk host serve` does at start
    shots = await run_tour(kiosk_app, artifacts / "tour")
    names = [p.stem.split("-", 1)[1] for p in shots]
    for caught_if_slow in ("processing", "card-processing"):   # shown only if the host was slow enough
        if caught_if_slow in names:
            names.remove(caught_if_slow)
    assert names == ["idle-zh", "idle-en", "entry-typed", "bill-3-2-1202",
                     "nothing-due-1-1-101", "unknown-house", "host-unavailable", "retry-after-host-back",
                     "swipe", "swipe-again", "declined", "pin-3-digits", "approved", "approved-with-bench",
                     "card-insert", "card-load-amount", "card-load-result", "card-history",
                     "card-tear", "card-tear-with-bench", "card-tear-finished", "card-lost",
                     "bill-pay-choice", "card-choose-wallet", "card-pin", "card-pay-result",
                     "countdown", "back-to-idle", "out-of-service",
                     # 银行卡服务 (kiosk/demo/tour/bankcard.py)
                     "bankcard-choose-zh", "bankcard-choose-en", "bankcard-swipe", "bankcard-pin",
                     "bankcard-balance-zh", "bankcard-balance-en", "bankcard-balance-printed",
                     "bankcard-pin-old-zh", "bankcard-pin-old-en", "bankcard-pin-mismatch-zh",
                     "bankcard-pin-mismatch-en", "bankcard-pin-changed-zh", "bankcard-pin-changed-en",
                     "bankcard-declined-zh", "bankcard-declined-en",
                     # the estate one-card (kiosk/demo/tour/onecard.py), each screen in zh and en; its house's
                     # bill was paid from the passbook above, so its bill screen says nothing is due
                     *(f"{name}-{lang}" for name in ("onecard", "onecard-load-amount", "onecard-load-result",
                                                     "onecard-records", "onecard-bill", "onecard-tear",
                                                     "onecard-tear-finished", "onecard-refused-office",
                                                     # 3-2-1202's arrears were paid by bank card above:
                                                     # its listed card is released at the tap
                                                     "onecard-released") for lang in ("zh", "en")),
                     # 购电 / 购水 / 购气 (kiosk/demo/tour/meter.py, run last)
                     "meter-insert", "meter-number", "meter-card", "meter-card-en", "meter-quantity-kwh",
                     "meter-quantity-yuan", "meter-pay", "meter-pay-en", "meter-result", "meter-result-en",
                     "meter-not-applied", "meter-not-applied-en", "meter-bench-before", "meter-bench-applied",
                     "meter-bench-low", "meter-bench-closed", "meter-card-cut", "meter-bench-open-again",
                     # 转账 (kiosk/demo/tour/transfer.py, run last)
                     *(f"{name}-{lang}" for name in ("transfer-cards", "transfer-amount", "transfer-confirm",
                                                     "transfer-result", "transfer-tear", "transfer-tear-finished")
                       for lang in ("zh", "en"))]
    assert all(p.stat().st_size > 10_000 for p in shots)
    assert ui_host.running
    # the bill by bank card, two loads (one torn and finished) and the bill from the passbook;
    # the bank card's balance slip; the one-card's two loads (one torn and finished); two meter purchases;
    # two transfers (one torn and finished)
    assert len(kiosk_app.kiosk.sims.printer.receipts) == 11
