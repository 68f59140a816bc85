"""`kiosk demo --tour`: every screen by touch, a PNG of each."""
from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.ui


@pytest.mark.kiosk_payments
async def test_tour_visits_every_screen(kiosk_app: Any, ui_host: Any, artifacts: Any) -> None:
    from kiosk.tour import run_tour

    shots = await run_tour(kiosk_app, artifacts / "tour")
    names = [p.stem.split("-", 1)[1] for p in shots]
    if "processing" in names:          # shown only if the bank was slow enough to catch it
        names.remove("processing")
    assert names == ["idle-zh", "idle-en", "entry-typed", "bill-3-2-1202",
                     "nothing-due-1-1-101", "unknown-house", "host-unavailable", "retry-after-host-back",
                     "swipe", "swipe-again", "declined", "pin-3-digits", "approved", "approved-with-bench",
                     "card-services", "countdown", "back-to-idle"]
    assert all(p.stat().st_size > 10_000 for p in shots)
    assert ui_host.running
    assert len(kiosk_app.kiosk.sims.printer.receipts) == 1

