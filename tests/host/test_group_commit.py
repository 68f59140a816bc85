"""Group commit on the ISO 8583 front-end (host.group_commit, issue 12
deliverable 4): concurrent terminals' requests share one transaction and one
fsync, each checks its own rules inside the batch (its own savepoint), and no
reply says 00 for anything that is not committed. SQLite: the backend the
front-end uses it on (PostgreSQL runs each request in its own transaction)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.engine import Connection

from host.group_commit import BatchFailed, GroupCommitter
from host.schema.bank import bank_link_counters, bank_link_journal
from tests.support.bank8583_env import CARDS, Link, link_fixture
from tests.support.databases import SQLITE


@pytest.fixture(scope="module", params=[SQLITE])
def link(request: pytest.FixtureRequest, databases: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Link]:
    yield from link_fixture(request, databases, tmp_path_factory)   # type: ignore[arg-type]


def group_of(link: Link) -> GroupCommitter:
    group = link.thread.front_end.handler.group
    assert group is not None, "the front-end on SQLite commits in groups"
    return group


class HeldWriter:
    """The writer kept busy inside a batch, so that what is sent meanwhile
    queues up and goes into the next batch together."""

    def __init__(self, group: GroupCommitter) -> None:
        self.group, self.entered, self.release = group, threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)

    def _hold(self, _conn: Connection) -> None:
        self.entered.set()
        assert self.release.wait(10)

    def _run(self) -> None:
        try:
            self.group.run(self._hold)
        except BaseException as exc:   # noqa: BLE001 - looked at by the test
            self.error = exc

    def __enter__(self) -> HeldWriter:
        self.thread.start()
        assert self.entered.wait(10)
        return self

    def queued(self, count: int) -> None:
        deadline = time.monotonic() + 10
        while self.group.pending() < count:
            assert time.monotonic() < deadline, f"{self.group.pending()} of {count} queued"
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(10)


def in_threads(calls: list[Callable[[], Any]]) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = [None] * len(calls)

    def call(i: int) -> None:
        results[i] = calls[i]()
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    return threads, results


def journal_rows(link: Link, terminal_id: str) -> list[Any]:
    with link.engine.connect() as conn:
        return list(conn.execute(select(bank_link_journal).where(bank_link_journal.c.terminal_id == terminal_id)))


def test_one_batch_commits_the_good_payments_and_declines_the_poor_one_with_its_own_code(link: Link) -> None:
    group = group_of(link)
    rich, poor, busy = link.terminal(), link.terminal(), link.terminal()
    ex, lo, bz = CARDS["example"], CARDS["poor"], CARDS["busy"]
    before = (link.balance("example"), link.balance("poor"), link.balance("busy"))
    batches = group.batches
    with HeldWriter(group) as held:
        threads, replies = in_threads([lambda: rich.purchase(ex.track2, ex.pin, ex.pan, 12_345),
                                       lambda: poor.purchase(lo.track2, lo.pin, lo.pan, 5_001),   # 50.01 > 50.00
                                       lambda: busy.purchase(bz.track2, bz.pin, bz.pan, 700)])
        held.queued(3)
    for t in threads:
        t.join(10)
    assert held.error is None
    assert group.batches == batches + 2          # the held one, then all three in one

    assert [r.message.text(39) for r in replies] == ["00", "51", "00"]
    for reply, terminal in zip(replies, (rich, poor, busy), strict=True):
        reply.verify_mac(terminal.keys.mak)
    assert (link.balance("example"), link.balance("poor"), link.balance("busy")) == \
        (before[0] - 12_345, before[1], before[2] - 700)
    assert [(r.state, r.code) for r in journal_rows(link, poor.terminal_id)] == [("declined", "51")]
    assert [r.state for r in journal_rows(link, rich.terminal_id) + journal_rows(link, busy.terminal_id)] == \
        ["approved", "approved"]
    rrns = sorted(r.message.text(37) for r in replies)
    assert len(set(rrns)) == 3                   # each its own RRN, in one transaction


def test_a_job_that_raises_is_undone_alone_and_gets_its_own_exception(link: Link) -> None:
    group = group_of(link)

    def counter(name: str, fail: bool) -> Callable[[Connection], str]:
        def work(conn: Connection) -> str:
            conn.execute(insert(bank_link_counters).values(name=name, value=1))
            if fail:
                raise ValueError(f"{name} refused")
            return name
        return work
    with HeldWriter(group) as held:
        threads, results = in_threads([lambda n=n, f=f: _outcome(group, counter(n, f))   # type: ignore[misc]
                                       for n, f in (("gc-a", False), ("gc-b", True), ("gc-c", False))])
        held.queued(3)
    for t in threads:
        t.join(10)
    assert results == ["gc-a", "ValueError: gc-b refused", "gc-c"]
    with link.engine.connect() as conn:
        names = conn.execute(select(bank_link_counters.c.name).where(bank_link_counters.c.name.like("gc-%"))
                             .order_by(bank_link_counters.c.name)).scalars().all()
    assert names == ["gc-a", "gc-c"]


def _outcome(group: GroupCommitter, work: Callable[[Connection], str]) -> str:
    try:
        return group.run(work)
    except Exception as exc:   # noqa: BLE001 - the result under test
        return f"{type(exc).__name__}: {exc}"


def test_a_failed_commit_acknowledges_nothing_and_the_writer_goes_on(link: Link) -> None:
    group = group_of(link)
    terminals = [link.terminal() for _ in range(3)]
    ex = CARDS["example"]
    balance, money = link.balance("example"), link.money()

    def boom(_conn: Connection) -> None:
        raise OSError("disk gone")
    with HeldWriter(group) as held:
        threads, replies = in_threads([lambda t=t: t.purchase(ex.track2, ex.pin, ex.pan, 100)   # type: ignore[misc]
                                       for t in terminals])
        held.queued(3)
        event.listen(link.engine, "commit", boom)
    try:
        for t in threads:
            t.join(10)
    finally:
        event.remove(link.engine, "commit", boom)
    assert isinstance(held.error, BatchFailed)
    assert [r.message.text(39) for r in replies] == ["96", "96", "96"]      # not one 00
    assert all(38 not in r.message.fields for r in replies)
    assert link.balance("example") == balance and link.money() == money
    with link.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(bank_link_journal).where(
            bank_link_journal.c.terminal_id.in_([t.terminal_id for t in terminals]))).scalar_one() == 0

    again = terminals[0].purchase(ex.track2, ex.pin, ex.pan, 100)      # the kiosk's retry, a new STAN
    assert again.message.text(39) == "00" and link.balance("example") == balance - 100
