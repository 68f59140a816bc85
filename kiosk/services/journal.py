"""The kiosk's transaction journal: SQLite, WAL, synchronous=FULL.

A financial step is written *before* its request leaves the kiosk and its
outcome after (DESIGN §3). Never holds a full PAN, track data or a PIN block:
only what a receipt may show (first 6 / last 4).

States of a payment:
  intent    -> journaled, request about to leave (or left: we cannot know)
  approved  -> the bank approved; receipt may be printed / reprinted
  declined  -> the bank declined; nothing charged
  not_sent  -> the request provably never left (connection refused)
  reversing -> outcome unknown: a reversal is pending until acknowledged
  reversed  -> the reversal was acknowledged: nothing charged
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kiosk.backend_client.bank import BackupCopy
from common.clock import Clock, SystemClock
from kiosk.services.journal_bank8583 import BANK_LINK_SCHEMA, BankLinkRecords
from kiosk.services.journal_meters import METER_SCHEMA, MeterSaleRecords
from kiosk.services.journal_onecard import ONECARD_SCHEMA, OneCardRecords
from kiosk.services.journal_onecard_blacklist import ONECARD_BLACKLIST_SCHEMA, OneCardBlacklistRecords
from kiosk.services.journal_settlement import SETTLEMENT_SCHEMA, SettlementRecords
from kiosk.services.journal_transfers import TRANSFER_SCHEMA, TransferRecords

SCHEMA = """
CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS txns (
    txn_id      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,            -- 'bill_payment'
    house_no    TEXT NOT NULL,
    amount_fen  INTEGER NOT NULL CHECK (amount_fen >= 0),
    masked_pan  TEXT NOT NULL,
    state       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',   -- JSON: items, periods, reference, auth code, decline code
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS txns_state ON txns(state);
CREATE TABLE IF NOT EXISTS blacklist (       -- IC cards the card centre listed (lost / blacklisted)
    serial  TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS blacklist_version (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (          -- backup copies for the property host (store and forward)
    txn_id  TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    sent_at TEXT
);
"""

PENDING_STATES = ("intent", "reversing")


@dataclass(frozen=True)
class JournalEntry:
    txn_id: str
    kind: str
    house_no: str
    amount_fen: int
    masked_pan: str
    state: str
    detail: dict[str, Any]
    created_at: str
    updated_at: str


class Journal(BankLinkRecords, OneCardRecords, OneCardBlacklistRecords, MeterSaleRecords, SettlementRecords,
              TransferRecords):
    """The kiosk's journal; the bank link's records (STAN, batch, reversals owed,
    debits) are BankLinkRecords' (journal_bank8583.py), the one-card's steps
    OneCardRecords' (journal_onecard.py), the one-card blacklist
    OneCardBlacklistRecords' (journal_onecard_blacklist.py), the meter sales
    MeterSaleRecords' (journal_meters.py), the daily settlement's
    SettlementRecords' (journal_settlement.py)."""

    def __init__(self, path: Path | str, clock: Clock | None = None) -> None:
        self.path = str(path)
        self.clock = clock or SystemClock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One connection, used from the event loop and worker threads alike; the lock
        # keeps each write-and-commit whole.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._db.executescript(BANK_LINK_SCHEMA)
        self._db.executescript(ONECARD_SCHEMA)
        self._db.executescript(METER_SCHEMA)
        self._db.executescript(ONECARD_BLACKLIST_SCHEMA)
        self._db.executescript(SETTLEMENT_SCHEMA)
        self._db.executescript(TRANSFER_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO counter (id, value) VALUES (1, 0)")
        self._db.execute("INSERT OR IGNORE INTO blacklist_version (id, value) VALUES (1, 0)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _now(self) -> str:
        return self.clock.now().isoformat(timespec="seconds")

    def next_counter(self) -> int:
        """The message counter, strictly increasing across restarts: committed
        before the message that carries it is sent."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE counter SET value = value + 1 WHERE id = 1")
            (value,) = self._db.execute("SELECT value FROM counter WHERE id = 1").fetchone()
            self._db.execute("COMMIT")
        return int(value)

    def record_intent(self, txn_id: str, *, kind: str, house_no: str, amount_fen: int,
                      masked_pan: str, detail: dict[str, Any]) -> None:
        now = self._now()
        with self._lock:
            self._db.execute(
                "INSERT INTO txns (txn_id, kind, house_no, amount_fen, masked_pan, state, detail,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'intent', ?, ?, ?)",
                (txn_id, kind, house_no, amount_fen, masked_pan, json.dumps(detail, ensure_ascii=False), now, now))

    def set_state(self, txn_id: str, state: str, **detail: Any) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT detail FROM txns WHERE txn_id = ?", (txn_id,)).fetchone()
            if row is None:
                self._db.execute("ROLLBACK")
                raise KeyError(txn_id)
            merged = {**json.loads(row[0]), **detail}
            self._db.execute("UPDATE txns SET state = ?, detail = ?, updated_at = ? WHERE txn_id = ?",
                             (state, json.dumps(merged, ensure_ascii=False), self._now(), txn_id))
            self._db.execute("COMMIT")

    def get(self, txn_id: str) -> JournalEntry | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM txns WHERE txn_id = ?", (txn_id,)).fetchone()
        return self._entry(row) if row else None

    def in_state(self, *states: str) -> list[JournalEntry]:
        marks = ",".join("?" * len(states))
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM txns WHERE state IN ({marks}) ORDER BY created_at, rowid",
                                    states).fetchall()
        return [self._entry(r) for r in rows]

    def pending(self) -> list[JournalEntry]:
        """Payments whose outcome is not settled: no new payment may start."""
        return self.in_state(*PENDING_STATES)

    def recent(self, limit: int = 20) -> list[JournalEntry]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM txns ORDER BY created_at DESC, rowid DESC LIMIT ?",
                                    (limit,)).fetchall()
        return [self._entry(r) for r in rows]

    # --- the IC card blacklist, downloaded incrementally from the card centre -----
    def blacklist_version(self) -> int:
        with self._lock:
            (value,) = self._db.execute("SELECT value FROM blacklist_version WHERE id = 1").fetchone()
        return int(value)

    def apply_blacklist(self, version: int, changes: list[tuple[str, bool]]) -> None:
        """(serial, listed) changes up to `version`, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for serial, listed in changes:
                if listed:
                    self._db.execute("INSERT OR IGNORE INTO blacklist (serial) VALUES (?)", (serial,))
                else:
                    self._db.execute("DELETE FROM blacklist WHERE serial = ?", (serial,))
            self._db.execute("UPDATE blacklist_version SET value = ? WHERE id = 1", (version,))
            self._db.execute("COMMIT")

    def is_blacklisted(self, serial: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM blacklist WHERE serial = ?", (serial,)).fetchone() is not None

    # --- store and forward ------------------------------------------------------
    def queue_backup(self, txn_id: str, payload: BackupCopy) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO outbox (txn_id, payload, sent_at) VALUES (?, ?, NULL)",
                             (txn_id, json.dumps(payload, ensure_ascii=False)))

    def unsent_backups(self) -> list[tuple[str, BackupCopy]]:
        with self._lock:
            rows = self._db.execute("SELECT txn_id, payload FROM outbox WHERE sent_at IS NULL ORDER BY rowid"
                                    ).fetchall()
        return [(txn_id, json.loads(payload)) for txn_id, payload in rows]

    def paid_awaiting_copy(self, house_no: str) -> bool:
        """A bill payment of `house_no` approved here whose backup copy is unsent."""
        return any(copy.get("kind") is None and copy.get("result") == "approved"
                   and copy.get("house_no") == house_no for _, copy in self.unsent_backups())

    def mark_backup_sent(self, txn_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET sent_at = ? WHERE txn_id = ?", (self._now(), txn_id))

    @staticmethod
    def _entry(row: tuple[Any, ...]) -> JournalEntry:
        txn_id, kind, house_no, amount, masked, state, detail, created, updated = row
        return JournalEntry(txn_id, kind, house_no, amount, masked, state, json.loads(detail), created, updated)

    # --- fleet reporting (read-only) ------------------------------------------------
    # What the heartbeat carries (kiosk/services/fleet/status.py, docs/console.md). Bill
    # payments and wallet transactions alike: approved/completed is money taken,
    # reversing/cancelling is money in doubt being undone.
    _DONE, _UNDONE, _UNDOING = ("approved", "completed"), ("reversed", "cancelled"), ("reversing", "cancelling")
    _UNDER_WAY = ("reversing", "cancelling", "authorised", "torn", "card_done", "confirming", "left_pending")

    def day_figures(self, day: str) -> dict[str, Any]:
        """Transactions of business day `day` (YYYY-MM-DD) that reached the host;
        `approved_fen` is the day's takings. A transaction's day is the one the
        host booked it on (its reply says), else the kiosk's date when it started:
        one sent at 23:59:59 and booked after midnight counts on the next day.
        A transfer between two IC cards (kind `transfer`) is not counted: it
        moves no money into or out of the estate (a bank pair is a load or an
        unload, and those are)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT state, COUNT(*), COALESCE(SUM(amount_fen), 0) FROM txns"
                " WHERE COALESCE(json_extract(detail, '$.business_day'), substr(created_at, 1, 10)) = ?"
                " AND kind != 'transfer' GROUP BY state", (day,)).fetchall()

        def total(states: tuple[str, ...]) -> tuple[int, int]:
            picked = [(n, fen) for state, n, fen in rows if state in states]
            return sum(n for n, _ in picked), sum(fen for _, fen in picked)
        (done, done_fen), (undone, undone_fen) = total(self._DONE), total(self._UNDONE)
        declined, _ = total(("declined",))
        under_way, _ = total(self._UNDER_WAY)
        return {"day": day, "count": done + undone + declined + under_way, "approved_count": done,
                "approved_fen": done_fen, "declined_count": declined, "reversed_count": undone,
                "reversed_fen": undone_fen}

    def backlog_figures(self, now: datetime) -> dict[str, Any]:
        """Money in doubt being undone (reversals, wallet cancels) and how long the
        oldest has waited; results not yet delivered (backup copies, wallet confirms)."""
        marks = ",".join("?" * len(self._UNDOING))
        with self._lock:
            reversals, oldest = self._db.execute(
                f"SELECT COUNT(*), MIN(updated_at) FROM txns WHERE state IN ({marks})", self._UNDOING).fetchone()
            (confirming,) = self._db.execute("SELECT COUNT(*) FROM txns WHERE state = 'confirming'").fetchone()
            (backups,) = self._db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()
        age = None if oldest is None else max(0, int((now - datetime.fromisoformat(oldest)).total_seconds()))
        return {"reversals": reversals, "backups": backups + confirming, "oldest_reversal_age_s": age}
