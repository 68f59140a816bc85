"""The kiosk's day figures (its takings) leave IC ↔ IC transfers out: money moved
between two cards never entered or left the estate (docs/cards.md §7)."""
from __future__ import annotations

from datetime import datetime

from kiosk.services.journal import Journal
from common.clock import ManualClock

DAY = datetime(2026, 11, 21, 10, 0)


def test_a_transfer_is_not_takings_a_load_is() -> None:
    journal = Journal(":memory:", ManualClock(DAY))
    journal.record_intent("K1-LOAD", kind="wallet_load", house_no="", amount_fen=5_000, masked_pan="6222****1234",
                          detail={})
    journal.set_state("K1-LOAD", "completed")
    journal.transfer_record("K1-X1", amount_fen=1_000, detail={"src": {}, "dst": {}})
    journal.set_state("K1-X1", "completed")
    figures = journal.day_figures(DAY.date().isoformat())
    assert (figures["count"], figures["approved_count"], figures["approved_fen"]) == (1, 1, 5_000)
