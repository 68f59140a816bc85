"""Money between two cards (issue 14 deliverable 4; docs/cards.md "Transfers").

One `transfers` row per transfer, with its legs in `transfer_legs`: the
source's debit (one) and the destination's credit (one per attempt: a credit
the card provably did not apply is cancelled and tried again when the card is
presented). A one-card leg is also a row of `onecard_txns` under the leg's
txn_id (kinds `xfer_out`, `xfer_in`), so the one-card's presentation finishes
a torn leg like any other operation and the mirror stays the authority."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, Text

from host.schema.metadata import metadata

transfers = Table(
    "transfers", metadata,
    Column("id", Integer, primary_key=True),
    Column("txn_id", String(56), nullable=False, unique=True),   # the kiosk's; legs add ":D", ":C<n>"
    Column("kiosk_id", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    # authorised (debit asked) → debited (source proven: the credit is owed) → completed;
    # or cancelled (the debit never applied) | declined
    Column("state", String(10), nullable=False),
    Column("code", String(32)),                                   # decline code or cancel reason
    Column("src_kind", String(8)),                                # cpu | onecard
    Column("src_card", String(20)),                               # CPU serial (20 hex) or one-card UID (8 hex)
    Column("src_wallet", String(2)),                              # ED | EP (CPU only)
    Column("dst_kind", String(8)),
    Column("dst_card", String(20)),
    Column("dst_wallet", String(2)),
    Column("reference", String(12), unique=True),                 # T + YYMMDD + 5 digits
    Column("business_day", Date, nullable=False),
    Column("reply_json", Text),                                   # the authorise answer (keys withheld)
    Column("created_at", DateTime, nullable=False),
    Column("debited_at", DateTime),
    Column("completed_at", DateTime),
    Column("resolved_by", String(32)),                            # the kiosk that finished or cancelled it
    Index("ix_transfers_src", "src_card", "state"),
    Index("ix_transfers_dst", "dst_card", "state"),
)

transfer_legs = Table(
    "transfer_legs", metadata,
    Column("id", Integer, primary_key=True),
    Column("transfer_id", ForeignKey("transfers.id"), nullable=False, index=True),
    Column("leg", String(6), nullable=False),                     # debit | credit
    Column("leg_txn_id", String(64), nullable=False, unique=True),
    Column("card_kind", String(8), nullable=False),
    Column("card", String(20), nullable=False),
    Column("wallet", String(2)),
    Column("txn_type", Integer, nullable=False),                  # CPU 05/06 out, 01/02 in; one-card 08 out, 07 in
    Column("amount_fen", BigInteger, nullable=False),
    Column("balance_before", BigInteger, nullable=False),
    Column("counter", Integer, nullable=False),                   # CPU offline/online counter; one-card count
    Column("random", String(8)),                                  # CPU: the card's random (hex)
    Column("term_txn_no", BigInteger),                            # CPU debit
    Column("term_id", String(12)),
    Column("when", String(14)),                                   # YYYYMMDDhhmmss the card and MACs use
    Column("state", String(10), nullable=False),                  # authorised | completed | cancelled
    Column("proof", String(32)),                                  # TAC (‖ MAC2), or the one-card's figures
    Column("created_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
)
