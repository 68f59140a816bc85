"""The bank link's records in the kiosk journal (the `LinkStore` of
kiosk/backend_client/bank8583/store.py): the last STAN and the batch number,
reversals owed (journaled before the financial request leaves), and the
batch's approved debits for settlement. Additive tables; the 0400's fields
hold no PAN, track or PIN block (§4: 35, 52 and 53 are not sent)."""
from __future__ import annotations

import json
import sqlite3
import threading

from kiosk.backend_client.bank8583.store import Debit, PendingReversal, ReversalState

BANK_LINK_SCHEMA = """
CREATE TABLE IF NOT EXISTS bank_link (       -- the 8583 link's counters: one row
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    stan   INTEGER NOT NULL,                 -- the last STAN used (0: none yet)
    batch  TEXT NOT NULL                     -- 60.2, from the sign-on reply; +1 when a batch closes
);
CREATE TABLE IF NOT EXISTS bank_reversals (  -- 0400s owed: armed (request out), due, done
    stan       TEXT PRIMARY KEY,
    txn_id     TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('armed', 'due', 'done')),
    reason     TEXT NOT NULL,
    fields     TEXT NOT NULL,                -- JSON {field: digits} of the 0400 but 39 and 64
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bank_reversals_txn ON bank_reversals(txn_id);
CREATE TABLE IF NOT EXISTS bank_debits (     -- approved purchases of a batch (settlement, batch upload)
    batch      TEXT NOT NULL,
    stan       TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
    rrn        TEXT NOT NULL,
    date       TEXT NOT NULL,                -- MMDD the 0200 was sent
    PRIMARY KEY (batch, stan)
);
INSERT OR IGNORE INTO bank_link (id, stan, batch) VALUES (1, 0, '000001');
"""

MAX_STAN = 999999


class BankLinkRecords:
    _db: sqlite3.Connection
    _lock: threading.Lock

    def _now(self) -> str:
        raise NotImplementedError

    def bank_next_stan(self) -> str:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            # 999999 wraps to 000001 (§4): 000000 is never sent
            self._db.execute(f"UPDATE bank_link SET stan = stan % {MAX_STAN} + 1 WHERE id = 1")
            (value,) = self._db.execute("SELECT stan FROM bank_link WHERE id = 1").fetchone()
            self._db.execute("COMMIT")
        return f"{value:06d}"

    def bank_batch(self) -> str:
        with self._lock:
            (batch,) = self._db.execute("SELECT batch FROM bank_link WHERE id = 1").fetchone()
        return str(batch)

    def bank_set_batch(self, batch: str) -> None:
        with self._lock:
            self._db.execute("UPDATE bank_link SET batch = ? WHERE id = 1", (batch,))

    def bank_arm_reversal(self, reversal: PendingReversal) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO bank_reversals (stan, txn_id, state, reason, fields, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (reversal.stan, reversal.txn_id, reversal.state, reversal.reason,
                 json.dumps({str(k): v for k, v in reversal.fields.items()}), self._now()))

    def bank_set_reversal(self, stan: str, state: ReversalState, reason: str = "") -> None:
        with self._lock:
            self._db.execute("UPDATE bank_reversals SET state = ?, reason = ? WHERE stan = ?", (state, reason, stan))

    def bank_drop_reversal(self, stan: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM bank_reversals WHERE stan = ?", (stan,))

    def bank_reversals(self, *states: ReversalState) -> list[PendingReversal]:
        marks = ",".join("?" * len(states))
        with self._lock:
            rows = self._db.execute(f"SELECT stan, txn_id, state, reason, fields FROM bank_reversals"
                                    f" WHERE state IN ({marks}) ORDER BY created_at, rowid", states).fetchall()
        return [self._reversal(r) for r in rows]

    def bank_reversal_of(self, txn_id: str) -> PendingReversal | None:
        with self._lock:
            row = self._db.execute("SELECT stan, txn_id, state, reason, fields FROM bank_reversals"
                                   " WHERE txn_id = ? ORDER BY rowid DESC LIMIT 1", (txn_id,)).fetchone()
        return self._reversal(row) if row else None

    @staticmethod
    def _reversal(row: tuple[str, str, ReversalState, str, str]) -> PendingReversal:
        stan, txn_id, state, reason, fields = row
        return PendingReversal(stan, txn_id, state, reason, {int(k): v for k, v in json.loads(fields).items()})

    def bank_record_debit(self, debit: Debit) -> None:
        # one transaction: a crash between the two would leave neither the
        # reversal nor the debit, and the approved purchase would be forgotten
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM bank_reversals WHERE stan = ?", (debit.stan,))
                self._db.execute("INSERT OR REPLACE INTO bank_debits (batch, stan, txn_id, amount_fen, rrn, date)"
                                 " VALUES (?, ?, ?, ?, ?, ?)",
                                 (debit.batch, debit.stan, debit.txn_id, debit.amount_fen, debit.rrn, debit.date))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def bank_debit_of(self, txn_id: str) -> Debit | None:
        with self._lock:
            row = self._db.execute("SELECT batch, stan, txn_id, amount_fen, rrn, date FROM bank_debits"
                                   " WHERE txn_id = ? ORDER BY rowid DESC LIMIT 1", (txn_id,)).fetchone()
        return Debit(*row) if row else None

    def bank_reverse_debit(self, debit: Debit, reversal: PendingReversal) -> None:
        # one transaction: the debit leaves the batch's totals exactly when its
        # 0400 is owed (a crash between would settle money being reversed)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM bank_debits WHERE batch = ? AND stan = ?", (debit.batch, debit.stan))
                self._db.execute(
                    "INSERT OR REPLACE INTO bank_reversals (stan, txn_id, state, reason, fields, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (reversal.stan, reversal.txn_id, reversal.state, reversal.reason,
                     json.dumps({str(k): v for k, v in reversal.fields.items()}), self._now()))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def bank_debits(self, batch: str) -> list[Debit]:
        with self._lock:
            rows = self._db.execute("SELECT batch, stan, txn_id, amount_fen, rrn, date FROM bank_debits"
                                    " WHERE batch = ? ORDER BY rowid", (batch,)).fetchall()
        return [Debit(*row) for row in rows]
