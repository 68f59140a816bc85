"""The one-card's records in the kiosk journal (docs/onecard.md "The kiosk"):
its operations go in the journal's `txns` (kinds onecard_load, onecard_bill),
written before the authorise leaves in state `sending` (not `intent`, which
start-up reverses as a bank payment); and every purse step, before it runs,
in `onecard_steps`: UID, step and amount (the purse's `on_step`). No key, PAN
or PIN block is ever written here.

States of a one-card operation:
  sending     -> journaled, authorise about to leave (or left)
  declined / not_sent
  authorised  -> approved: the card write (steps 3–7) under way
  torn        -> the card left during steps 3–7: the next presentation, at any
                 kiosk, decides (the host's pending operation + the card's figures)
  confirming  -> the card holds the new figures: confirm owed
  cancelling  -> the card did not apply it (or the authorise's answer was lost
                 before any key arrived): cancel owed
  completed / cancelled"""
from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

ONECARD_SCHEMA = """
CREATE TABLE IF NOT EXISTS onecard_steps (   -- each purse step, journaled before it runs
    id      INTEGER PRIMARY KEY,
    txn_id  TEXT NOT NULL,                   -- '' for a presentation's own steps (and its recovery)
    uid     TEXT NOT NULL,
    step    INTEGER NOT NULL,                -- kiosk.cards.mifare_purse.Step: 0..7, 8 a recovery starts
    amount  INTEGER NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS onecard_steps_txn ON onecard_steps(txn_id);
"""

# a transfer's one-card leg, when a presentation (any kiosk) finishes it: docs/cards.md "Transfers"
ONECARD_KINDS = ("onecard_load", "onecard_bill", "onecard_xfer_out", "onecard_xfer_in")


class OneCardRecords:
    _db: sqlite3.Connection
    _lock: threading.Lock

    def _now(self) -> str:
        raise NotImplementedError

    def onecard_record(self, txn_id: str, *, kind: str, house_no: str, amount_fen: int, masked_pan: str,
                       state: str, detail: dict[str, Any]) -> None:
        """A one-card operation, in its first state (`sending`, or `confirming` /
        `cancelling` for another kiosk's operation a presentation here settles)."""
        if kind not in ONECARD_KINDS:
            raise ValueError(f"kind must be one of {ONECARD_KINDS}")
        now = self._now()
        with self._lock:
            self._db.execute(
                "INSERT INTO txns (txn_id, kind, house_no, amount_fen, masked_pan, state, detail,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (txn_id, kind, house_no, amount_fen, masked_pan, state, json.dumps(detail, ensure_ascii=False),
                 now, now))

    def onecard_step(self, txn_id: str, uid: str, step: int, amount: int) -> None:
        with self._lock:
            self._db.execute("INSERT INTO onecard_steps (txn_id, uid, step, amount, at) VALUES (?, ?, ?, ?, ?)",
                             (txn_id, uid, step, amount, self._now()))

    def onecard_steps(self, txn_id: str) -> list[tuple[str, int, int]]:
        """(uid, step, amount) of an operation, in order."""
        with self._lock:
            rows = self._db.execute("SELECT uid, step, amount FROM onecard_steps WHERE txn_id = ? ORDER BY id",
                                    (txn_id,)).fetchall()
        return [(str(u), int(s), int(a)) for u, s, a in rows]
