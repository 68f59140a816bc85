"""Per-terminal sessions of the ISO 8583 link: the working keys a sign-on
issued (PIK, MAK, TDK), kept only wrapped under the terminal's TMK, the open
batch and the business day of the sign-on; and the link's retrieval reference
numbers (field 37)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from common.bank8583.keys import WorkingKeys, ecb_decrypt, ecb_encrypt
from host.bank.keys import new_key
from host.schema.bank import bank_link_counters, bank_link_sessions, bank_link_settlements

BATCH_WRAP = 1_000_000    # 60.2 is n6: 999999 is followed by 000001

_SESSION = select(bank_link_sessions).where(bank_link_sessions.c.terminal_id == bindparam("t")).with_for_update()
_LAST_CLOSED = select(func.max(bank_link_settlements.c.batch)).where(
    bank_link_settlements.c.terminal_id == bindparam("t"), bank_link_settlements.c.closed_at.is_not(None))


@dataclass(frozen=True, slots=True)
class Session:
    terminal_id: str
    kiosk_id: str
    batch: str                   # the open batch, n6
    business_day: date | None    # of the last sign-on
    keys: WorkingKeys | None     # clear, in memory only; None: signed off (or never on)


@lru_cache(maxsize=256)
def _unwrap(tmk: bytes, wrapped_hex: str) -> bytes:
    return ecb_decrypt(tmk, bytes.fromhex(wrapped_hex))


def _wrap(tmk: bytes, key: bytes) -> str:
    return ecb_encrypt(tmk, key).hex().upper()


def load_session(conn: Connection, terminal_id: str, kiosk_id: str, tmk: bytes) -> Session | None:
    """The terminal's session, its row locked (one message per terminal at a
    time); None when it never signed on. Keys stored for another kiosk (the
    terminal was moved in [bank.terminals]) are not this TMK's: no keys."""
    row = conn.execute(_SESSION, {"t": terminal_id}).first()
    if row is None:
        return None
    keys = None
    if row.kiosk_id == kiosk_id and row.pik_under_tmk and row.mak_under_tmk and row.tdk_under_tmk:
        keys = WorkingKeys(_unwrap(tmk, row.pik_under_tmk), _unwrap(tmk, row.mak_under_tmk),
                           _unwrap(tmk, row.tdk_under_tmk))
    return Session(terminal_id, row.kiosk_id, row.batch, row.business_day, keys)


def next_batch(batch: str) -> str:
    number = int(batch) + 1
    return f"{number if number < BATCH_WRAP else 1:06d}"


def fresh_keys() -> WorkingKeys:
    """Three distinct random double-length keys (never K ‖ K)."""
    keys: list[bytes] = []
    while len(keys) < 3:
        key = new_key()
        if key not in keys:
            keys.append(key)
    return WorkingKeys(*keys)


def sign_on(conn: Connection, terminal_id: str, kiosk_id: str, tmk: bytes, kiosk_batch: str,
            day: date, now: datetime) -> tuple[WorkingKeys, str]:
    """New working keys for the terminal, stored wrapped, and the batch it is to
    use: the one the 0800 carries, unless that batch is closed here already
    (settled), then the one after the last closed."""
    keys = fresh_keys()
    last_closed = conn.execute(_LAST_CLOSED, {"t": terminal_id}).scalar()
    batch = kiosk_batch
    if last_closed is not None and int(batch) <= int(last_closed):
        batch = next_batch(last_closed)
    values = {"kiosk_id": kiosk_id, "pik_under_tmk": _wrap(tmk, keys.pik), "mak_under_tmk": _wrap(tmk, keys.mak),
              "tdk_under_tmk": _wrap(tmk, keys.tdk), "batch": batch, "business_day": day, "signed_on_at": now}
    row = conn.execute(_SESSION, {"t": terminal_id}).first()
    if row is None:
        first = {"terminal_id": terminal_id, "key_version": 0, **values}
        if conn.dialect.name == "postgresql":
            # two first sign-ons at once: the second insert waits for the first, then does nothing
            conn.execute(pg_insert(bank_link_sessions).values(**first)
                         .on_conflict_do_nothing(index_elements=[bank_link_sessions.c.terminal_id]))
        else:
            conn.execute(insert(bank_link_sessions).values(**first))
        row = conn.execute(_SESSION, {"t": terminal_id}).one()
    conn.execute(update(bank_link_sessions).where(bank_link_sessions.c.terminal_id == terminal_id)
                 .values(key_version=row.key_version + 1, **values))
    return keys, batch


def sign_off(conn: Connection, terminal_id: str) -> None:
    """The working keys are forgotten: the terminal signs on before its next message."""
    conn.execute(update(bank_link_sessions).where(bank_link_sessions.c.terminal_id == terminal_id)
                 .values(pik_under_tmk=None, mak_under_tmk=None, tdk_under_tmk=None))


def close_batch(conn: Connection, terminal_id: str, batch: str) -> None:
    """A settled batch: the terminal's session moves to the next one."""
    conn.execute(update(bank_link_sessions).where(bank_link_sessions.c.terminal_id == terminal_id,
                                                  bank_link_sessions.c.batch == batch)
                 .values(batch=next_batch(batch)))


_BUMP = update(bank_link_counters).where(bank_link_counters.c.name == "rrn") \
    .values(value=bank_link_counters.c.value + 1).returning(bank_link_counters.c.value)


def next_rrn(conn: Connection, day: date) -> str:
    """Field 37: the business day YYMMDD and 6 digits of one counter shared by
    every terminal (unique for a million replies).

    On PostgreSQL the counter moves in a short transaction of its own: bumped
    in the request's, its row would stay locked until that request's commit
    (fsync included) and every terminal's request would wait for the one
    before (docs/performance.md: 132 payments/s from 16 kiosks). That side
    commit need not wait for the disk (synchronous_commit off): WAL is flushed
    in order, so the request's own durable commit, later, makes the bump
    durable too, and no reply goes out before it. A request rolled back leaves
    a gap in the numbers, never a repeat. (The one reply whose request writes
    nothing, a repeated reversal's 00, does not wait for that flush: after a
    server crash within the WAL writer's delay its number could come again.)
    On SQLite (one writer) it stays in the request's transaction."""
    if conn.dialect.name == "postgresql":
        with conn.engine.connect() as side, side.begin():
            side.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            return f"{day:%y%m%d}{_bump(side) % 1_000_000:06d}"
    return f"{day:%y%m%d}{_bump(conn) % 1_000_000:06d}"


def _bump(conn: Connection) -> int:
    value = conn.execute(_BUMP).scalar()
    if value is None:
        if conn.dialect.name == "postgresql":
            conn.execute(pg_insert(bank_link_counters).values(name="rrn", value=0)
                         .on_conflict_do_nothing(index_elements=[bank_link_counters.c.name]))
        else:
            conn.execute(insert(bank_link_counters).values(name="rrn", value=0))
        value = conn.execute(_BUMP).scalar_one()
    return int(value)
