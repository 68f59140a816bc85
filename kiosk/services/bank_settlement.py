"""The daily bank settlement (issue 16, item 5; docs/bank-link.md "Settlement").

When: once a day at `[bank] settle_at` ("HH:MM", the injected clock); a kiosk
that was off (or could not settle) at that time settles at the next chance
after it, its next start included; and whenever staff send `settle_now` from
the console. Never while a payment is in progress (the fleet service's safe
point: no transaction running, none starts meanwhile) and never while a
reversal is owed: the owed reversals go first (the settling task's pass), and
when one is still not acknowledged the settlement waits for the next try.

What: `BankLink.settle()` — the 0500 with the batch's totals; a balanced 0510
closes the batch, an unbalanced one is followed by the batch upload (0320 per
debit) and the end of upload. The outcome (batch, totals, balanced or not,
debits uploaded, time, who asked) is kept in the journal and reported with
every heartbeat (`status()`), so the console sees it from the kiosk too."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, time, timedelta
from typing import Any, Protocol

from common.clock import Clock
from common.money import Money
from kiosk.backend_client.bank8583.settlement import Settlement
from kiosk.domain.errors import KioskError
from kiosk.services.journal_settlement import SettlementRecord

log = logging.getLogger(__name__)

CHECK_EVERY_S = 30.0      # how often the schedule looks at the clock (and retries a failed settlement)


class SettlePort(Protocol):
    """What the service needs of the bank link (BankLink)."""

    async def settle(self) -> Settlement: ...


class SettlementJournal(Protocol):
    """What the service keeps in the kiosk journal (journal_settlement.py)."""

    def record_settlement(self, record: SettlementRecord) -> None: ...
    def last_settlement(self) -> SettlementRecord | None: ...
    def settle_slot(self) -> str | None: ...
    def set_settle_slot(self, slot: str) -> None: ...


class ReversalOwed(RuntimeError):
    """A reversal is not acknowledged yet: no settlement before it."""


def parse_settle_at(text: str) -> time | None:
    """"HH:MM" (checked by the kiosk's config reader) -> a time; "" -> no schedule."""
    if not text:
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def latest_slot(now: datetime, at: time) -> datetime:
    """The last scheduled instant at or before `now`: today's, or yesterday's
    when today's has not come yet."""
    today = datetime.combine(now.date(), at)
    return today if now >= today else today - timedelta(days=1)


def _nothing() -> AbstractAsyncContextManager[None]:
    return contextlib.nullcontext()


class BankSettlementService:
    def __init__(self, link: SettlePort, journal: SettlementJournal, clock: Clock, settle_at: str, *,
                 reversals_owed: Callable[[], bool] = lambda: False,
                 send_reversals: Callable[[], Awaitable[object]] | None = None,
                 safe_point: Callable[[], AbstractAsyncContextManager[None]] = _nothing,
                 check_every_s: float = CHECK_EVERY_S) -> None:
        self.link, self.journal, self.clock = link, journal, clock
        self.settle_at = parse_settle_at(settle_at)
        self._reversals_owed, self._send_reversals = reversals_owed, send_reversals
        self._safe_point = safe_point
        self.check_every_s = check_every_s
        self._lock = asyncio.Lock()          # one settlement at a time (schedule and console)
        self._task: asyncio.Task[None] | None = None

    # --- life cycle -----------------------------------------------------------------
    async def start(self) -> None:
        """The schedule's task; its first look at the clock is at once, so a time
        passed while the kiosk was off is settled at this start."""
        if self.settle_at is not None and self.journal.settle_slot() is None:
            # a new journal: the schedule starts from the last slot, not from all the slots
            # before this kiosk existed (a fresh batch has nothing to settle)
            self.journal.set_settle_slot(self._slot_key(latest_slot(self.clock.now(), self.settle_at)))
        if self.settle_at is not None:
            self._task = asyncio.create_task(self._loop(), name="bank-settlement")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduled settlement failed outside the link")
            await asyncio.sleep(self.check_every_s)

    # --- the schedule -----------------------------------------------------------------
    @staticmethod
    def _slot_key(slot: datetime) -> str:
        return slot.isoformat(timespec="minutes")

    def due(self) -> bool:
        """The configured time has come since the last scheduled settlement."""
        if self.settle_at is None:
            return False
        done = self.journal.settle_slot()
        return done is None or self._slot_key(latest_slot(self.clock.now(), self.settle_at)) > done

    async def tick(self) -> SettlementRecord | None:
        """Settle if due (at the safe point, reversals first); the record, or None
        when not due or not possible yet (tried again at the next tick)."""
        if not self.due():
            return None
        if not await self._reversals_done():
            log.info("settlement due, but a reversal is still owed: settling later")
            return None
        async with self._safe_point():
            async with self._lock:
                assert self.settle_at is not None
                slot = self._slot_key(latest_slot(self.clock.now(), self.settle_at))
                if not self.due():               # settled by another tick meanwhile
                    return None
                try:
                    record = await self._settle("schedule")
                except (KioskError, ReversalOwed) as exc:
                    log.warning("scheduled settlement failed (%s): trying again later", exc)
                    return None
                self.journal.set_settle_slot(slot)
                return record

    # --- staff's command --------------------------------------------------------------
    async def settle_now(self, _: dict[str, Any] | None = None) -> str:
        """The fleet command `settle_now` (run by FleetService at its safe point).
        A failure is raised: the command's result says why."""
        if not await self._reversals_done():
            raise ReversalOwed("a reversal is still owed to the bank: the batch settles after it")
        async with self._lock:
            record = await self._settle("console")
        return describe(record)

    # --- both -------------------------------------------------------------------------
    async def _reversals_done(self) -> bool:
        if not self._reversals_owed():
            return True
        if self._send_reversals is not None:
            try:
                await self._send_reversals()
            except KioskError as exc:
                log.info("reversals before settlement: %s", exc)
        return not self._reversals_owed()

    async def _settle(self, trigger: str) -> SettlementRecord:
        result = await self.link.settle()
        totals = result.totals
        record = SettlementRecord(
            batch=result.batch, debit_fen=totals.debit.fen, debit_count=totals.debit_count,
            credit_fen=totals.credit.fen, credit_count=totals.credit_count, balanced=result.balanced,
            uploaded=result.uploaded, at=self.clock.now().isoformat(timespec="seconds"), trigger=trigger)
        self.journal.record_settlement(record)
        (log.info if record.balanced else log.warning)(
            "batch %s settled (%s): %s", record.batch, trigger, describe(record))
        return record

    def status(self) -> dict[str, Any] | None:
        """The last settlement, for the heartbeat (None before the first)."""
        last = self.journal.last_settlement()
        return None if last is None else last.status()


def describe(record: SettlementRecord) -> str:
    """The command's result in one line (staff read it on the console)."""
    verdict = "balanced" if record.balanced else f"unbalanced, {record.uploaded} debit(s) uploaded"
    return (f"batch {record.batch} {verdict}: {record.debit_count} debit(s) {Money(record.debit_fen)}"
            + (f", {record.credit_count} credit(s) {Money(record.credit_fen)}" if record.credit_count else ""))
