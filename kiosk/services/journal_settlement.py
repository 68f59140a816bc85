"""The daily bank settlement's records in the kiosk journal: each settlement's
outcome (the batch, the totals sent in 48, balanced or not, the 0320s
uploaded, when, and who asked: the schedule or staff), and the last scheduled
time already settled (so the schedule settles once a day, across restarts).
Additive tables beside journal_bank8583.py; no card data."""
from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

SETTLEMENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS bank_settlements (  -- each settlement the front-end answered
    id           INTEGER PRIMARY KEY,
    batch        TEXT NOT NULL,                -- 60.2 settled (closed by it)
    debit_fen    INTEGER NOT NULL,
    debit_count  INTEGER NOT NULL,
    credit_fen   INTEGER NOT NULL,
    credit_count INTEGER NOT NULL,
    balanced     INTEGER NOT NULL CHECK (balanced IN (0, 1)),
    uploaded     INTEGER NOT NULL,             -- 0320s sent (0 when balanced)
    at           TEXT NOT NULL,                -- kiosk clock, ISO seconds
    trigger      TEXT NOT NULL CHECK (trigger IN ('schedule', 'console'))
);
CREATE TABLE IF NOT EXISTS bank_settle_schedule (  -- one row: the last scheduled time covered
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    slot    TEXT NOT NULL                      -- ISO minutes of the settle_at instant settled (or skipped)
);
"""


@dataclass(frozen=True)
class SettlementRecord:
    batch: str
    debit_fen: int
    debit_count: int
    credit_fen: int
    credit_count: int
    balanced: bool
    uploaded: int
    at: str
    trigger: str

    def status(self) -> dict[str, Any]:
        """The heartbeat's `settlement` (docs/console.md "The heartbeat")."""
        return {"batch": self.batch, "balanced": self.balanced, "debit_fen": self.debit_fen,
                "debit_count": self.debit_count, "credit_fen": self.credit_fen,
                "credit_count": self.credit_count, "uploaded": self.uploaded, "at": self.at,
                "trigger": self.trigger}


class SettlementRecords:
    _db: sqlite3.Connection
    _lock: threading.Lock

    def record_settlement(self, record: SettlementRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO bank_settlements (batch, debit_fen, debit_count, credit_fen, credit_count, balanced,"
                " uploaded, at, trigger) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.batch, record.debit_fen, record.debit_count, record.credit_fen, record.credit_count,
                 int(record.balanced), record.uploaded, record.at, record.trigger))

    def last_settlement(self) -> SettlementRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT batch, debit_fen, debit_count, credit_fen, credit_count, balanced, uploaded, at, trigger"
                " FROM bank_settlements ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return SettlementRecord(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7], row[8])

    def settle_slot(self) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT slot FROM bank_settle_schedule WHERE id = 1").fetchone()
        return None if row is None else str(row[0])

    def set_settle_slot(self, slot: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO bank_settle_schedule (id, slot) VALUES (1, ?)"
                             " ON CONFLICT (id) DO UPDATE SET slot = excluded.slot", (slot,))
