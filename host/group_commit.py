"""Group commit (issue 12, deliverable 4): one transaction and one fsync for
several writers' work, each writer answered only once that commit is durable.

SQLite has one writer at a time and a commit costs an fsync. When several
kiosks pay at once, their transactions queue for the write lock anyway; here
they queue for one writer thread instead, which takes everything that queued
while its previous commit ran and runs it in one transaction (BEGIN
IMMEDIATE, host.db.write_transaction): one fsync for the batch. There is no
timer: an idle writer takes the first job at once (a lone payment waits for
nothing), and a batch grows only by what arrived during the previous commit.

Each job runs inside its own SAVEPOINT, in arrival order, so it sees the
writes of the jobs before it (two messages of one terminal in one batch are
still in order) and checks its own rules there; a job that raises is rolled
back to its savepoint and gets its exception, the others go on. `run` returns
only after the batch's COMMIT returned: nothing is acknowledged that is not
durable. When the transaction itself fails (the commit, the disk, BEGIN), every
job of the batch gets that exception (`BatchFailed`) and nothing of it was
written.

A job runs on the writer thread with the writer's connection: it must not
wait for another job (it would wait for itself) and must not keep the
connection. PostgreSQL has many writers and groups concurrent commits' WAL
flushes itself; the front-end uses this module on SQLite only
(docs/performance.md has both measured)."""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection, Engine

from host.db import write_transaction

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BATCH = 64      # jobs in one transaction: bounds a batch's commit and the wait of its first job


class BatchFailed(RuntimeError):
    """The batch's transaction failed (BEGIN or COMMIT): none of its jobs was written."""


class _Job(Generic[T]):
    __slots__ = ("work", "done", "result", "error")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


def _savepoint(conn: Connection, sql: str) -> None:
    # straight to the DBAPI connection (sqlite3 and psycopg both take
    # `execute`): SQLAlchemy's begin_nested, even exec_driver_sql, costs several
    # times the statement itself, twice per job; the savepoint never outlives
    # this module's loop, so SQLAlchemy need not know of it
    driver: Any = conn.connection.driver_connection
    driver.execute(sql)


class GroupCommitter:
    """`run(work)` from any thread: work(conn) in the next batch; its result
    (or its exception) once the batch committed. `close()` stops the writer
    after the jobs already queued."""

    def __init__(self, engine: Engine, name: str = "group-commit", max_batch: int = MAX_BATCH) -> None:
        self.engine, self.max_batch = engine, max_batch
        self._queue: deque[_Job[Any]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._started = False
        self.batches = 0          # committed or failed, for the benchmark's figures
        self.jobs = 0

    def run(self, work: Callable[[Connection], T]) -> T:
        job: _Job[T] = _Job(work)
        with self._cond:
            if self._closed:
                raise BatchFailed("the group-commit writer is closed")
            if not self._started:
                self._started = True
                self._thread.start()
            self._queue.append(job)
            self._cond.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]   # set whenever error is None

    def pending(self) -> int:
        """Jobs queued for the next batch (not the one being committed)."""
        with self._cond:
            return len(self._queue)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._started:
            self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                count = min(len(self._queue), self.max_batch)
                batch = [self._queue.popleft() for _ in range(count)]
            self._commit(batch)

    def _commit(self, batch: list[_Job[Any]]) -> None:
        try:
            with write_transaction(self.engine) as conn:
                for job in batch:
                    self._one(conn, job)
        except BaseException as exc:   # noqa: BLE001 - whatever it was, no job of this batch is durable
            log.exception("group commit: a batch of %d failed, none of it written", len(batch))
            failed = BatchFailed(f"the batch's transaction failed: {exc!r}")
            failed.__cause__ = exc
            for job in batch:
                job.result, job.error = None, failed
        finally:
            self.batches += 1
            self.jobs += len(batch)
            for job in batch:
                job.done.set()

    @staticmethod
    def _one(conn: Connection, job: _Job[Any]) -> None:
        _savepoint(conn, "SAVEPOINT job")
        try:
            job.result = job.work(conn)
        except Exception as exc:   # noqa: BLE001 - the job's own failure: its writes undone, the batch goes on
            _savepoint(conn, "ROLLBACK TO SAVEPOINT job")
            _savepoint(conn, "RELEASE SAVEPOINT job")
            job.error = exc
            return
        _savepoint(conn, "RELEASE SAVEPOINT job")
