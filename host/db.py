"""Schema (SQLAlchemy Core) and engine set-up. Readings and areas are integers of
hundredths, money integer fen: exact on SQLite and PostgreSQL alike."""
from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (BigInteger, Column, Date, DateTime, ForeignKey, Index, Integer, MetaData,
                        String, Table, Text, UniqueConstraint, create_engine, event)
from sqlalchemy.engine import Connection, CursorResult, Engine, make_url

metadata = MetaData()

estates = Table(
    "estates", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
)

buildings = Table(
    "buildings", metadata,
    Column("id", Integer, primary_key=True),
    Column("estate_id", ForeignKey("estates.id"), nullable=False),
    Column("number", Integer, nullable=False),
    UniqueConstraint("estate_id", "number"),
)

units = Table(
    "units", metadata,
    Column("id", Integer, primary_key=True),
    Column("building_id", ForeignKey("buildings.id"), nullable=False),
    Column("number", Integer, nullable=False),
    UniqueConstraint("building_id", "number"),
)

households = Table(
    "households", metadata,
    Column("id", Integer, primary_key=True),
    Column("unit_id", ForeignKey("units.id"), nullable=False),
    Column("room", String(4), nullable=False),
    Column("house_no", String(16), nullable=False),   # canonical "building-unit-room"
    Column("area_m2_x100", Integer, nullable=False),   # 89.50 m2 -> 8950
    Index("ix_households_house_no", "house_no", unique=True),
)

UTILITY_UNITS = {"water": "m3", "electricity": "kWh", "gas": "m3"}

meters = Table(
    "meters", metadata,
    Column("id", Integer, primary_key=True),
    Column("household_id", ForeignKey("households.id"), nullable=False),
    Column("utility", String(12), nullable=False),     # water | electricity | gas
    UniqueConstraint("household_id", "utility"),
)

readings = Table(
    "readings", metadata,
    Column("id", Integer, primary_key=True),
    Column("meter_id", ForeignKey("meters.id"), nullable=False),
    Column("period", String(7), nullable=False),       # "YYYY-MM": the reading at the end of that month
    Column("value_x100", BigInteger, nullable=False),  # 10234.50 -> 1023450
    Column("read_at", String(32)),                     # as the reading system sent it, if it did
    UniqueConstraint("meter_id", "period"),
)

bills = Table(
    "bills", metadata,
    Column("id", Integer, primary_key=True),
    Column("household_id", ForeignKey("households.id"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("paid_at", DateTime),
    Column("paid_ref", String(64)),
    # (household, period) unique: billing twice is impossible; also the lookup index.
    UniqueConstraint("household_id", "period", name="uq_bills_household_period"),
)

bill_lines = Table(
    "bill_lines", metadata,
    Column("id", Integer, primary_key=True),
    Column("bill_id", ForeignKey("bills.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),       # display order on the bill
    Column("utility", String(12), nullable=False),
    Column("unit", String(4), nullable=False),
    Column("previous_x100", BigInteger),               # null for the property fee
    Column("current_x100", BigInteger),
    Column("usage_x100", BigInteger, nullable=False),
    Column("tiers_json", Text, nullable=False),         # wire-shaped tier list, frozen at billing time
    Column("amount_fen", BigInteger, nullable=False),
)


# --- bank front-end and payments (docs/payments.md) ---------------------------
# No table holds a clear PAN: bank_accounts keeps a keyed hash (the look-up) and
# the PAN encrypted (host.bank.card_vault); every other table holds a masked PAN
# (first 6 / last 4) or the account id.

kiosks = Table(
    "kiosks", metadata,
    Column("kiosk_id", String(32), primary_key=True),
    Column("last_counter", BigInteger, nullable=False, default=0),   # last accepted message counter
    Column("key_version", Integer, nullable=False, default=0),       # +1 at every sign-on
    Column("pik_under_tmk", String(32)),   # working keys as issued: hex, wrapped under the kiosk's TMK
    Column("mak_under_tmk", String(32)),
    Column("signed_on_at", DateTime),
)

bank_accounts = Table(
    "bank_accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("pan_hash", String(64), nullable=False, unique=True, index=True),  # hex HMAC-SHA256(pan_hash_key, PAN)
    Column("pan_enc", String(96), nullable=False),            # hex nonce||AES-GCM(pan_key, PAN)||tag; statements only
    Column("masked_pan", String(19), nullable=False),
    Column("holder", String(100), nullable=False),
    Column("expiry", String(4), nullable=False),              # YYMM: valid to the end of that month
    Column("status", String(8), nullable=False),              # active | blocked
    Column("balance_fen", BigInteger, nullable=False),
    Column("daily_limit_fen", BigInteger, nullable=False),
    Column("pin_offset", String(12), nullable=False),         # IBM 3624 PIN offset under the PVK; never the PIN
    Column("pin_tries", Integer, nullable=False, default=0),  # consecutive wrong PINs; 3 locks the PIN
)

bank_txns = Table(
    "bank_txns", metadata,
    Column("id", Integer, primary_key=True),
    Column("txn_id", String(64), nullable=False, unique=True),
    Column("kiosk_id", String(32), nullable=False),
    # approved | declined | reversed (a reversal was received: tombstone if nothing was captured)
    Column("state", String(10), nullable=False),
    Column("account_id", ForeignKey("bank_accounts.id")),
    Column("masked_pan", String(19)),
    Column("household_id", ForeignKey("households.id")),
    Column("amount_fen", BigInteger, nullable=False),
    Column("reference", String(12), unique=True),
    Column("business_day", Date, nullable=False),
    Column("kiosk_time", String(32)),                          # local_time as the kiosk sent it
    Column("reply_json", Text),                                # the first answer, byte for byte
    Column("created_at", DateTime, nullable=False),
    Column("reversed_at", DateTime),
    Index("ix_bank_txns_account_day", "account_id", "business_day"),
    Index("ix_bank_txns_day", "business_day"),            # the console's day searches and totals
)

bank_journal = Table(
    "bank_journal", metadata,
    Column("id", Integer, primary_key=True),
    Column("business_day", Date, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("kiosk_id", String(32), nullable=False),
    Column("txn_id", String(64), nullable=False),
    Column("type", String(24), nullable=False),     # sale | reversal | wallet_load | wallet_load_reversal | wallet_unload
    Column("result", String(10), nullable=False),   # approved | declined (sale); reversed | not_found (reversal)
    Column("code", String(64)),                     # decline code, or the reversal's reason
    Column("masked_pan", String(19)),
    Column("amount_fen", BigInteger, nullable=False),
    Column("reference", String(12)),
    Column("auth_code", String(6)),
    Index("ix_bank_journal_day", "business_day"),
    Index("ix_bank_journal_txn", "txn_id"),
)

property_ledger = Table(
    "property_ledger", metadata,
    Column("id", Integer, primary_key=True),
    Column("txn_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),      # payment | reversal
    Column("household_id", ForeignKey("households.id"), nullable=False),
    Column("periods", String(200), nullable=False), # "2026-08,2026-09,2026-10"
    Column("amount_fen", BigInteger, nullable=False),   # bills + late fee; negative for a reversal
    Column("late_fee_fen", BigInteger, nullable=False), # the late-fee part (negative for a reversal)
    Column("reference", String(12), nullable=False),
    Column("business_day", Date, nullable=False),
    Column("at", DateTime, nullable=False),
    UniqueConstraint("txn_id", "kind", name="uq_property_ledger_txn_kind"),
    Index("ix_property_ledger_day", "business_day"),      # reconciliation, a day at a time
)

property_backups = Table(
    "property_backups", metadata,
    Column("txn_id", String(64), primary_key=True),
    Column("kiosk_id", String(32), nullable=False),
    Column("house_no", String(16)),
    Column("amount_fen", BigInteger),
    Column("masked_pan", String(19)),
    Column("result", String(24)),
    Column("reference", String(12)),
    Column("auth_code", String(6)),
    Column("at", String(32)),
    Column("txn_json", Text, nullable=False),     # the copy as the kiosk sent it
    Column("received_at", DateTime, nullable=False),
    Index("ix_property_backups_at", "at"),                # reconciliation: the copies of a day
)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit at the driver; SQLAlchemy's "begin" event below emits BEGIN itself,
    # so a transaction really starts where the code says it does (pysqlite otherwise
    # defers BEGIN to the first write and validation reads would run outside it).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")      # readers never block the importer
    cursor.execute("PRAGMA synchronous=FULL")      # a paid bill survives a power cut
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")   # a writer waits for the lock, bounded
    cursor.execute("PRAGMA cache_size=-65536")     # 64 MiB: bulk imports of 10^6 rows stay in memory
    cursor.close()


# --- the write discipline (docs/console.md, "Write discipline") ------------------
# SQLite has one writer. A transaction that reads and then writes must take the
# write lock at BEGIN (BEGIN IMMEDIATE): a deferred one that has read is refused
# at its first write with "database is locked" at once, without the busy wait,
# whenever another connection wrote meanwhile (SQLite cannot upgrade a stale
# read snapshot). So every writer here runs in `write_transaction` (or marks its
# connection with `immediate`): one process-wide lock per database (a payment
# waits for the short write in progress and is woken when it ends, not by
# SQLite's polling back-off), then BEGIN IMMEDIATE with busy_timeout for
# writers in other processes (the CLI). Reads stay deferred and never block.
BUSY_TIMEOUT_MS = 5000
_SQLITE_WRITERS: "weakref.WeakKeyDictionary[Engine, threading.Lock]" = weakref.WeakKeyDictionary()
_SQLITE_WRITERS_GUARD = threading.Lock()


class WriterBusy(TimeoutError):
    """The database's write lock was not free within BUSY_TIMEOUT_MS."""


@contextmanager
def writer_lock(engine: Engine) -> Iterator[None]:
    """This process's one writer at a time on a SQLite database (bank, card
    centre, fleet, console); nothing elsewhere (PostgreSQL locks rows)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _SQLITE_WRITERS_GUARD:
        lock = _SQLITE_WRITERS.setdefault(engine, threading.Lock())
    if not lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
        raise WriterBusy(f"no write lock within {BUSY_TIMEOUT_MS} ms")
    try:
        yield
    finally:
        lock.release()


def immediate(conn: Connection) -> Connection:
    """Mark `conn`: its next transactions begin with BEGIN IMMEDIATE on SQLite."""
    return conn.execution_options(sqlite_immediate=True)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()` for a writer: under the process's write lock, BEGIN
    IMMEDIATE on SQLite; commits at the end, rolls back on an exception."""
    with writer_lock(engine), engine.connect() as conn:
        with immediate(conn).begin():
            yield conn


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("sqlite_immediate") else "BEGIN")


def make_engine(url: str) -> Engine:
    # hide_parameters: a failed statement's values (a PAN, a PIN block) never reach
    # an exception message or a log line.
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # One pooled connection is used by one request at a time, from a worker thread.
    engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def create_tables(engine: Engine) -> None:
    """Missing tables, and missing indexes of existing tables (create_all makes a
    table's indexes only with the table, and a host's database outlives releases)."""
    import host.cards.schema  # noqa: F401  (the card centre's tables share this metadata)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)


def drop_tables(engine: Engine) -> None:
    metadata.drop_all(engine)


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """executemany. On SQLite the rows go straight to the driver: at a million rows
    SQLAlchemy's per-row parameter processing costs more than the inserts. Only
    for tables of integers and text (no type conversion is needed)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), rows)
        return
    names = list(rows[0])
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(names)}) "
                         f"VALUES ({', '.join(':' + n for n in names)})", rows)


def inserted_id(result: CursorResult[Any]) -> int:
    """The id a single-row INSERT (no RETURNING) just gave its row. SQLAlchemy
    types inserted_primary_key as optional: it is None only when no row went in,
    which a single-row INSERT that did not raise never does."""
    pk = result.inserted_primary_key
    assert pk is not None, "not a single-row INSERT"
    return pk[0]


def fmt_x100(value: int) -> str:
    """1023450 -> "10234.50" (hundredths to decimal text, never via float)."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 100)
    return f"{sign}{whole}.{frac:02d}"
