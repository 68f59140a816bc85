"""What the bank link keeps across restarts, in the kiosk journal (SQLite):
the STAN, the batch number, pending reversals and the batch's debits. The
journal implements `LinkStore` (kiosk/services/journal_bank8583.py); the
client never holds a PAN, a track or a PIN block there."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

ReversalState = Literal["armed", "due", "done"]


@dataclass(frozen=True)
class PendingReversal:
    """The 0400 of a financial request, journaled before the request leaves:
    `armed` while it is out, `due` once its outcome is unknown (`reason` 98,
    A0 or 06), `done` when the 0410 came. `fields` are the 0400's fields
    (3 4 11 22 25 41 42 49 60 61) as sent; 39 (the reason) and 64 are added."""

    stan: str
    txn_id: str
    state: ReversalState
    reason: str
    fields: dict[int, str]


@dataclass(frozen=True)
class Debit:
    """An approved purchase of a batch (for settlement and batch upload)."""

    batch: str
    stan: str
    txn_id: str
    amount_fen: int
    rrn: str     # 37 of the 0210
    date: str    # MMDD, the kiosk's local date when it sent the 0200


class LinkStore(Protocol):
    def bank_next_stan(self) -> str:
        """The next STAN (000001…999999, then 000001 again), committed before
        the message that carries it leaves."""

    def bank_batch(self) -> str: ...

    def bank_set_batch(self, batch: str) -> None: ...

    def bank_arm_reversal(self, reversal: PendingReversal) -> None: ...

    def bank_set_reversal(self, stan: str, state: ReversalState, reason: str = "") -> None: ...

    def bank_drop_reversal(self, stan: str) -> None:
        """A definite reply came: there is nothing to undo."""

    def bank_reversals(self, *states: ReversalState) -> list[PendingReversal]:
        """Oldest first."""

    def bank_reversal_of(self, txn_id: str) -> PendingReversal | None: ...

    def bank_record_debit(self, debit: Debit) -> None:
        """An approved purchase: its armed reversal dropped and the debit
        recorded, in one transaction."""

    def bank_debit_of(self, txn_id: str) -> Debit | None: ...

    def bank_reverse_debit(self, debit: Debit, reversal: PendingReversal) -> None:
        """The debit out of the batch (its totals) and its 0400 owed, in one
        transaction."""

    def bank_debits(self, batch: str) -> list[Debit]: ...
