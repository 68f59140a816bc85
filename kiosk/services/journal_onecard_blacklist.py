"""The one-card unpaid-fee blacklist in the kiosk journal (docs/onecard.md
"Unpaid-fee blacklist"): the cards the host lists, with the reason a refused
card is told (house, unpaid since, the property fees owed), and the version
held, so the next download asks only for what changed since."""
from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass

ONECARD_BLACKLIST_SCHEMA = """
CREATE TABLE IF NOT EXISTS onecard_blacklist (        -- one-cards listed for unpaid property fees
    uid         TEXT PRIMARY KEY,
    house_no    TEXT,
    since       TEXT,                                  -- YYYY-MM-DD
    amount_fen  INTEGER
);
CREATE TABLE IF NOT EXISTS onecard_blacklist_version (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT OR IGNORE INTO onecard_blacklist_version (id, value) VALUES (1, 0);
"""


@dataclass(frozen=True)
class ListedCard:
    uid: str
    house_no: str
    since: str
    amount_fen: int


class OneCardBlacklistRecords:
    _db: sqlite3.Connection
    _lock: threading.Lock

    def onecard_blacklist_version(self) -> int:
        with self._lock:
            (value,) = self._db.execute("SELECT value FROM onecard_blacklist_version WHERE id = 1").fetchone()
        return int(value)

    def apply_onecard_blacklist(self, version: int, changes: list[ListedCard | str]) -> None:
        """A download, in one transaction: a ListedCard is listed (or its reason
        changed), a bare UID lifted; then the version."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for change in changes:
                    if isinstance(change, str):
                        self._db.execute("DELETE FROM onecard_blacklist WHERE uid = ?", (change,))
                    else:
                        self._db.execute("INSERT OR REPLACE INTO onecard_blacklist (uid, house_no, since, amount_fen)"
                                         " VALUES (?, ?, ?, ?)",
                                         (change.uid, change.house_no, change.since, change.amount_fen))
                self._db.execute("UPDATE onecard_blacklist_version SET value = ? WHERE id = 1", (version,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def onecard_listed(self, uid: str) -> ListedCard | None:
        with self._lock:
            row = self._db.execute("SELECT uid, house_no, since, amount_fen FROM onecard_blacklist WHERE uid = ?",
                                   (uid,)).fetchone()
        return None if row is None else ListedCard(str(row[0]), str(row[1] or ""), str(row[2] or ""), int(row[3] or 0))
