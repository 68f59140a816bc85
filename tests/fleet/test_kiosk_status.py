"""What the kiosk reports: the journal's figures for the day and its backlog
(bill payments and wallet transactions), device states from the watched
ports, the printer's paper asked between transactions only."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from kiosk.devices.ports import PaperStatus
from kiosk.domain.errors import PaperOut, PrinterFault, ReaderFault
from kiosk.services.fleet.devices import DeviceBoard, WatchedCardReader, WatchedPrinter
from kiosk.services.fleet.status import JournalStatus
from kiosk.services.journal import Journal


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "journal.sqlite3")
    yield journal
    journal.close()


def _txn(journal: Journal, txn_id: str, state: str, fen: int, kind: str = "bill_payment") -> None:
    journal.record_intent(txn_id, kind=kind, house_no="3-2-1202", amount_fen=fen, masked_pan="622202******0017",
                          detail={})
    if state != "intent":
        journal.set_state(txn_id, state)


def test_day_figures_and_backlog(journal: Journal) -> None:
    _txn(journal, "A", "approved", 10000)
    _txn(journal, "B", "approved", 2500)
    _txn(journal, "C", "declined", 9900)
    _txn(journal, "D", "reversed", 700)
    _txn(journal, "E", "reversing", 300)
    _txn(journal, "F", "not_sent", 100)                     # never reached the host: not counted
    _txn(journal, "W1", "completed", 5000, kind="wallet_load")
    _txn(journal, "W2", "cancelling", 800, kind="wallet_load")
    _txn(journal, "W3", "confirming", 600, kind="wallet_purchase")
    journal.queue_backup("A", {"txn_id": "A"})
    journal.queue_backup("B", {"txn_id": "B"})
    journal.mark_backup_sent("B")
    today = datetime.now().date().isoformat()
    figures = journal.day_figures(today)
    assert figures == {"day": today, "count": 8, "approved_count": 3, "approved_fen": 17500, "declined_count": 1,
                       "reversed_count": 1, "reversed_fen": 700}
    assert journal.day_figures("2000-01-01")["count"] == 0
    backlog = journal.backlog_figures(datetime.now() + timedelta(minutes=10))
    assert backlog["reversals"] == 2 and backlog["backups"] == 2          # A unsent + W3 confirming
    assert 595 <= backlog["oldest_reversal_age_s"] <= 605


class FakePrinter:
    def __init__(self) -> None:
        self.paper: PaperStatus | Exception = PaperStatus.OK
        self.delay = 0.0
        self.asked = 0

    async def paper_status(self) -> PaperStatus:
        self.asked += 1
        await asyncio.sleep(self.delay)
        if isinstance(self.paper, Exception):
            raise self.paper
        return self.paper

    async def print_receipt(self, receipt: object) -> None:
        if isinstance(self.paper, Exception):
            raise self.paper


async def test_the_printer_is_asked_between_transactions_only(journal: Journal) -> None:
    printer = FakePrinter()
    status = JournalStatus(journal, printer, now=journal.clock.now)  # type: ignore[arg-type]
    assert (await status(busy=False))["devices"] == {"printer": {"state": "ok"}}
    printer.paper = PaperStatus.NEAR_END
    assert (await status(busy=True))["devices"] == {"printer": {"state": "ok"}}     # last known: not asked
    assert printer.asked == 1
    assert (await status(busy=False))["devices"] == {"printer": {"state": "paper_near_end"}}
    printer.paper = PrinterFault("cover open")
    assert (await status(busy=False))["devices"] == {"printer": {"state": "fault", "reason": "cover open"}}
    printer.paper, printer.delay = PaperStatus.OK, 1.0
    status.PRINTER_TIMEOUT_S = 0.05
    assert (await status(busy=False))["devices"] == {"printer": {"state": "fault", "reason": "no answer"}}


async def test_watched_devices_report_faults_and_recoveries() -> None:
    board = DeviceBoard()
    printer = FakePrinter()
    watched = WatchedPrinter(printer, board)  # type: ignore[arg-type]
    printer.paper = PaperOut("paper out")
    with pytest.raises(PaperOut):
        await watched.print_receipt(object())  # type: ignore[arg-type]
    assert board.snapshot()["printer"] == {"state": "paper_out", "reason": "paper out"}
    printer.paper = PaperStatus.OK
    assert await watched.paper_status() is PaperStatus.OK
    assert board.snapshot()["printer"] == {"state": "ok"}

    class BrokenReader:
        async def read_swipe(self, timeout_s: float) -> object:
            raise ReaderFault("port /dev/ttyS0 gone")

    reader = WatchedCardReader(BrokenReader(), board)  # type: ignore[arg-type]
    with pytest.raises(ReaderFault):
        await reader.read_swipe(1)
    assert board.snapshot()["card_reader"] == {"state": "fault", "reason": "port /dev/ttyS0 gone"}
    with pytest.raises(ValueError):
        board.report("printer", "on fire")
