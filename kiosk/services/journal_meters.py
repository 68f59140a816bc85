"""Meter sales in the kiosk journal (docs/meters.md "The kiosk"): one row per
sale, written before each step's request leaves. Additive table, apart from
the bill payments' `txns` so that the bank reversals never take a meter sale
(its money goes back through the vending host's cancel, which checks the card).

States: intent (authorise about to leave) -> paid (approved: the signed image
is in `detail`) -> written (the image read back from the card) -> confirmed;
or declined, not_sent; cancelling -> cancelled (the money back, by the settling
task); torn (the card left mid-write: the host holds the sale and the next read
of the card, at any kiosk, writes it); confirming (written, the host not yet told)."""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

METER_SCHEMA = """
CREATE TABLE IF NOT EXISTS meter_sales (
    sale_id     TEXT PRIMARY KEY,
    meter       TEXT NOT NULL,
    house_no    TEXT NOT NULL,
    quantity    INTEGER NOT NULL CHECK (quantity > 0),     -- 0.01 units
    amount_fen  INTEGER NOT NULL CHECK (amount_fen >= 0),
    masked_pan  TEXT NOT NULL,
    state       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',   -- JSON: utility, lines, image, count, reference, reason
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS meter_sales_state ON meter_sales(state);
"""

# what the settling task still owes the host (no new sale while any is left)
METER_UNSETTLED = ("cancelling", "confirming")


@dataclass(frozen=True)
class MeterSaleEntry:
    sale_id: str
    meter: str
    house_no: str
    quantity: int
    amount_fen: int
    masked_pan: str
    state: str
    detail: dict[str, Any]
    created_at: str
    updated_at: str


class MeterSaleRecords:
    _db: sqlite3.Connection
    _lock: threading.Lock

    def _now(self) -> str:
        raise NotImplementedError

    def record_meter_intent(self, sale_id: str, *, meter: str, house_no: str, quantity: int, amount_fen: int,
                            masked_pan: str, detail: dict[str, Any]) -> None:
        now = self._now()
        with self._lock:
            self._db.execute(
                "INSERT INTO meter_sales (sale_id, meter, house_no, quantity, amount_fen, masked_pan, state, detail,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'intent', ?, ?, ?)",
                (sale_id, meter, house_no, quantity, amount_fen, masked_pan, json.dumps(detail, ensure_ascii=False),
                 now, now))

    def set_meter_state(self, sale_id: str, state: str, **detail: Any) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT detail FROM meter_sales WHERE sale_id = ?", (sale_id,)).fetchone()
            if row is None:
                self._db.execute("ROLLBACK")
                raise KeyError(sale_id)
            merged = {**json.loads(row[0]), **detail}
            self._db.execute("UPDATE meter_sales SET state = ?, detail = ?, updated_at = ? WHERE sale_id = ?",
                             (state, json.dumps(merged, ensure_ascii=False), self._now(), sale_id))
            self._db.execute("COMMIT")

    def meter_sale(self, sale_id: str) -> MeterSaleEntry | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM meter_sales WHERE sale_id = ?", (sale_id,)).fetchone()
        return _entry(row) if row else None

    def meter_sales_in(self, *states: str) -> list[MeterSaleEntry]:
        marks = ",".join("?" * len(states))
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM meter_sales WHERE state IN ({marks})"
                                    " ORDER BY created_at, rowid", states).fetchall()
        return [_entry(r) for r in rows]


def _entry(row: tuple[Any, ...]) -> MeterSaleEntry:
    sale_id, meter, house_no, quantity, amount, masked, state, detail, created, updated = row
    return MeterSaleEntry(sale_id, meter, house_no, quantity, amount, masked, state, json.loads(detail), created,
                          updated)
