"""Engine set-up and the write discipline, for every area's tables (which live
in host.schema; this module imports none of them, so any table module and any
area can use these helpers without an import cycle)."""
from __future__ import annotations

import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Table, create_engine, event
from sqlalchemy.engine import Connection, CursorResult, Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

T = TypeVar("T")


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
#
# PostgreSQL has row locks and many writers: no process lock and no BEGIN
# IMMEDIATE there. Transactions run at READ COMMITTED (set on the engine, so a
# server default cannot change it), and every read-then-write locks what it
# reads (SELECT ... FOR UPDATE: the kiosk's row and its message counter, the
# card account, the household, the card transaction), so a second message with
# one counter waits for the first and then reads the counter it left: a counter
# is never accepted twice, in one process or across several. Counters that only
# grow are written as `x = x + 1` in SQL, never read-modify-write in Python.
# Two transactions that lock rows in opposite orders can still deadlock, and
# PostgreSQL aborts one (SQLSTATE 40P01; 40001 where a site runs SERIALIZABLE):
# `retrying` runs such a transaction again, from the start, a bounded number
# of times, so a kiosk gets an answer, not a 500.
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


# SQLSTATEs after which the whole transaction may simply run again
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})     # serialization_failure, deadlock_detected
RETRY_ATTEMPTS = 5


def is_transient(exc: BaseException) -> bool:
    """A serialisation failure or deadlock: the database rolled the transaction back, nothing was written."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def is_outage(exc: BaseException) -> bool:
    """The database is not there (restarting, unreachable, the connection cut,
    the pool exhausted), as opposed to a statement's own error: the caller
    answers "try again" (HTTP 503, 8583 96), never a 500."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout, WriterBusy)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def retrying(work: Callable[[], T], attempts: int = RETRY_ATTEMPTS) -> T:
    """`work()` (one whole transaction), run again after a serialisation failure
    or deadlock, at most `attempts` times in all, with a short random pause (the
    two losers of a deadlock should not meet again at once). Never on SQLite,
    where a writer holds the one write lock and such errors do not arise."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
        time.sleep(random.uniform(0.005, 0.02) * attempt)   # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("sqlite_immediate") else "BEGIN")


def make_engine(url: str) -> Engine:
    # hide_parameters: a failed statement's values (a PAN, a PIN block) never reach
    # an exception message or a log line.
    if make_url(url).get_backend_name() != "sqlite":
        # READ COMMITTED with row locks (the write discipline above); a pool sized
        # for the server's worker threads, each holding one connection at a time
        return create_engine(url, pool_pre_ping=True, hide_parameters=True, isolation_level="READ COMMITTED",
                             pool_size=10, max_overflow=30)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # One pooled connection is used by one request at a time, from a worker thread.
    engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


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
