"""Settlement (0500/0510) and batch upload (0320/0330) of the link
(BANK-8583.md §4). The kiosk's totals in 48 are compared with the journal's
for the terminal and batch: approved purchases not reversed, their sum and
count (the link has no credits). Balanced closes the batch; unbalanced waits
for the kiosk's upload of every debit (each recorded, and marked whether the
journal holds it), closed by the end of upload. The journal prevails: an
upload changes no money, it is what staff compare."""
from __future__ import annotations

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from common.bank8583 import fields
from common.bank8583.errors import WireError
from host.bank.frontend.exchange import APPROVED, MALFUNCTION, Answer, Exchange, Malformed, session_batch
from host.bank.frontend.session import close_batch, next_rrn
from host.db import inserted_id
from host.schema.bank import bank_link_journal, bank_link_settlements, bank_link_uploads

_BATCH_TOTALS = select(func.coalesce(func.sum(bank_link_journal.c.amount_fen), 0), func.count()).where(
    bank_link_journal.c.terminal_id == bindparam("t"), bank_link_journal.c.batch == bindparam("b"),
    bank_link_journal.c.kind == "purchase", bank_link_journal.c.state == "approved")
_AWAITING_UPLOAD = select(bank_link_settlements.c.id, bank_link_settlements.c.batch).where(
    bank_link_settlements.c.terminal_id == bindparam("t"), bank_link_settlements.c.result == "unbalanced",
    bank_link_settlements.c.closed_at.is_(None)).order_by(bank_link_settlements.c.id.desc()).limit(1) \
    .with_for_update()
_DEBIT = select(bank_link_journal.c.id).where(
    bank_link_journal.c.terminal_id == bindparam("t"), bank_link_journal.c.batch == bindparam("b"),
    bank_link_journal.c.stan == bindparam("s"), bank_link_journal.c.kind == "purchase",
    bank_link_journal.c.state == "approved", bank_link_journal.c.amount_fen == bindparam("fen"))


def settle(conn: Connection, ex: Exchange) -> Answer:
    """0500: 48 echoed with digit 31 `1` (balanced) or `2` (unbalanced)."""
    batch = session_batch(ex)
    raw = ex.text(48)
    try:
        totals = fields.Totals.parse(raw)
    except WireError:
        raise Malformed("field 48 needs 31 digits") from None
    bank_fen, bank_count = conn.execute(_BATCH_TOTALS, {"t": ex.terminal_id, "b": batch}).one()
    balanced = (totals.debit.fen, totals.debit_count, totals.credit.fen, totals.credit_count) \
        == (int(bank_fen), int(bank_count), 0, 0)
    conn.execute(insert(bank_link_settlements).values(
        terminal_id=ex.terminal_id, batch=batch, business_day=ex.day, at=ex.now,
        kiosk_debit_fen=totals.debit.fen, kiosk_debit_count=totals.debit_count,
        bank_debit_fen=int(bank_fen), bank_debit_count=int(bank_count),
        result="balanced" if balanced else "unbalanced", closed_at=ex.now if balanced else None))
    if balanced:
        close_batch(conn, ex.terminal_id, batch)
    code = fields.SETTLE_BALANCED if balanced else fields.SETTLE_UNBALANCED
    echo = raw[:30] + code + raw[31:]
    return Answer(APPROVED, {15: f"{ex.day:%m%d}", 37: next_rrn(conn, ex.day), 48: echo})


def upload(conn: Connection, ex: Exchange) -> Answer:
    """0320 with 60.3 201: one debit of an unbalanced batch (4, 37, 61)."""
    awaiting = conn.execute(_AWAITING_UPLOAD, {"t": ex.terminal_id}).first()
    if awaiting is None:
        return Answer(MALFUNCTION)     # no unbalanced settlement awaits an upload
    try:
        original = fields.Field61.parse(ex.text(61))
    except WireError:
        raise Malformed("field 61 needs 16 digits") from None
    fen = int(ex.text(4))
    matched = conn.execute(_DEBIT, {"t": ex.terminal_id, "b": original.batch, "s": original.stan,
                                    "fen": fen}).first() is not None
    inserted_id(conn.execute(insert(bank_link_uploads).values(
        settlement_id=awaiting.id, batch=original.batch, stan=original.stan, amount_fen=fen,
        rrn=ex.text(37), matched=matched)))
    return Answer(APPROVED)


def end_of_upload(conn: Connection, ex: Exchange) -> Answer:
    """0320 with 60.3 202: the upload is over; the batch closes (48: the count
    the kiosk sent; the settlement keeps the count received)."""
    batch = session_batch(ex)
    awaiting = conn.execute(_AWAITING_UPLOAD, {"t": ex.terminal_id}).first()
    if awaiting is None or awaiting.batch != batch:
        return Answer(MALFUNCTION)
    received = conn.execute(select(func.count()).select_from(bank_link_uploads)
                            .where(bank_link_uploads.c.settlement_id == awaiting.id)).scalar_one()
    conn.execute(update(bank_link_settlements).where(bank_link_settlements.c.id == awaiting.id)
                 .values(uploaded=received, closed_at=ex.now))
    close_batch(conn, ex.terminal_id, batch)
    return Answer(APPROVED)
