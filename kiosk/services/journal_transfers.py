"""Transfers in the kiosk journal (docs/cards.md "Transfers"): one row of the
journal's `txns` per transfer (kind `transfer`), written before its authorise
leaves, and every card write of either leg, before it is sent to the card, in
`transfer_steps`: the card (CPU serial or one-card UID), the step and the
amount. A one-card leg's purse steps also go to `onecard_steps` under the
leg's id (the purse's own hook), as the one-card service journals its own.

States of a transfer:
  sending       -> journaled, authorise about to leave (or left)
  declined / not_sent
  debiting      -> approved: the source's write under way
  debit_torn    -> the source left during its write: its proof decides
  debit_proven  -> the source's proof in hand: the host's `debit` owed
  debited       -> the host holds the debit: the credit is owed
  crediting     -> the destination's write under way
  credit_torn   -> the destination left during its write: its proof decides
  credit_proven -> the destination's proof in hand: the host's `confirm` owed
  credit_owed   -> the destination did not get it here: made when that card is
                   next presented in a transfer, at any kiosk
  completed
  cancelling / cancelled -> the source never applied the debit"""
from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

TRANSFER_SCHEMA = """
CREATE TABLE IF NOT EXISTS transfer_steps (   -- each card write of a transfer, journaled before it is sent
    id      INTEGER PRIMARY KEY,
    txn_id  TEXT NOT NULL,
    card    TEXT NOT NULL,                    -- CPU serial or one-card UID
    step    TEXT NOT NULL,                    -- debit | credit
    amount  INTEGER NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transfer_steps_txn ON transfer_steps(txn_id);
"""

TRANSFER_KIND = "transfer"


class TransferRecords:
    _db: sqlite3.Connection
    _lock: threading.Lock

    def _now(self) -> str:
        raise NotImplementedError

    def transfer_record(self, txn_id: str, *, amount_fen: int, detail: dict[str, Any]) -> None:
        """A transfer, in state `sending`."""
        now = self._now()
        with self._lock:
            self._db.execute(
                "INSERT INTO txns (txn_id, kind, house_no, amount_fen, masked_pan, state, detail,"
                " created_at, updated_at) VALUES (?, ?, '', ?, '', 'sending', ?, ?, ?)",
                (txn_id, TRANSFER_KIND, amount_fen, json.dumps(detail, ensure_ascii=False), now, now))

    def transfer_step(self, txn_id: str, card: str, step: str, amount: int) -> None:
        with self._lock:
            self._db.execute("INSERT INTO transfer_steps (txn_id, card, step, amount, at) VALUES (?, ?, ?, ?, ?)",
                             (txn_id, card, step, amount, self._now()))

    def transfer_steps(self, txn_id: str) -> list[tuple[str, str, int]]:
        """(card, step, amount) of a transfer, in order."""
        with self._lock:
            rows = self._db.execute("SELECT card, step, amount FROM transfer_steps WHERE txn_id = ? ORDER BY id",
                                    (txn_id,)).fetchall()
        return [(str(c), str(s), int(a)) for c, s, a in rows]
