"""Settling: what the host must still hear of, sent by one background task
with back-off until acknowledged (DESIGN §3) - reversals of bill payments
whose outcome is unknown, the wallet's cancels and confirmations (its settler,
wallet_settling.py), and backup copies for the property host. While any of
them waits no new financial transaction starts.

`send_journaled` is the one place that turns a host error on a money request
into its journal state: the request provably never left (not_sent), or it may
have been acted on and must be undone (reversing / cancelling)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from kiosk.backend_client.bank import BackupCopy, ReversalStatus
from kiosk.domain.errors import (
    BankSignOnRequired, HostError, HostUnavailable, KioskError, NotSignedOn, OutcomeUnknown,
)
from kiosk.services.copies import payment_copy
from kiosk.services.journal import Journal, JournalEntry
from kiosk.services.journal_meters import METER_UNSETTLED
from kiosk.services.session import HostSession

log = logging.getLogger(__name__)

T = TypeVar("T")

# journal states that hold new financial transactions back until acknowledged
UNSETTLED = ("reversing", "cancelling", "confirming")
AWAITING_NEWS = ("left_pending",)   # not blocking, but a settler asks the host what became of them


class Reverser(Protocol):
    """Who reverses a bill payment: the bank link (BankLink.reverse sends the
    0400 it journaled before the 0200 left, until its 0410 comes; a reversal
    already acknowledged answers `already_reversed`, so no purchase is
    reversed twice)."""

    async def reverse(self, txn_id: str, amount_fen: int, reason: str) -> ReversalStatus: ...

    async def send_reversals(self) -> None: ...


class SettlingHost(Protocol):
    """The property host's side over the signed HTTP channel: the backup copy."""

    async def send_backup(self, txn: BackupCopy) -> None: ...


class SettlingService:
    MAX_BACKOFF_S = 30.0
    IDLE_PASS_S = 60.0   # a pass even when nothing woke it: news of what was left pending comes from the host

    def __init__(self, *, journal: Journal, bank: SettlingHost, reverser: Reverser, session: HostSession,
                 reversals_owed: Callable[[], bool] = lambda: False, first_backoff_s: float = 0.5) -> None:
        """`reversals_owed`: the link's own record says a 0400 is still due (it
        blocks new payments as a `reversing` journal entry does)."""
        self.journal, self.bank, self.reverser, self.session = journal, bank, reverser, session
        self._reversals_owed = reversals_owed
        self._first_backoff_s = first_backoff_s
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()   # one settling pass at a time: each reversal is sent once
        self._settlers: list[Callable[[], Awaitable[bool]]] = []
        self._periodic: list[Callable[[], Awaitable[None]]] = []

    # --- life cycle ----------------------------------------------------------------
    async def start(self) -> None:
        """Start the background task, and settle what is waiting before service."""
        self._workers = [asyncio.create_task(self._settle_loop())]
        await self.settle_once()

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    @property
    def suspended(self) -> bool:
        """True while a reversal, or a wallet cancel or confirmation, is
        unacknowledged: no new financial transaction may start (DESIGN §3)."""
        return (bool(self.journal.in_state(*UNSETTLED) or self.journal.meter_sales_in(*METER_UNSETTLED))
                or self._reversals_owed())

    def add_settler(self, settle: Callable[[], Awaitable[bool]]) -> None:
        """Another service's unacknowledged messages, sent by the same settling
        task (after reversals, before backup copies); True when none is left."""
        self._settlers.append(settle)

    def add_periodic(self, task: Callable[[], Awaitable[None]]) -> None:
        """Work for every pass of the settling task, the idle one (IDLE_PASS_S)
        included, after the settling: e.g. the one-card blacklist's download.
        Its failures are logged, never fatal to the task."""
        self._periodic.append(task)

    def wake(self) -> None:
        self._wake.set()

    # --- a money request, journaled -----------------------------------------------------
    async def send_journaled(self, txn_id: str, send: Callable[[], Awaitable[T]], *,
                             undo: str, renewed: str, record: Callable[..., None] | None = None) -> T:
        """`send()` the request whose intent is journaled as `txn_id`; on failure
        journal what is known of the money and raise:
        - NotSignedOn: the host changed nothing (not_sent); new working keys mean
          a new PIN key, so a PIN block held is void: sign on again, then
          HostUnavailable(`renewed`) (the resident enters the PIN again);
        - HostUnavailable: the request never left (not_sent);
        - OutcomeUnknown or another host error: it may have been acted on: `undo`
          (reversing | cancelling) until the host acknowledges, OutcomeUnknown.
        `record(txn_id, state, **detail)`: where the state is journaled when the
        request is not a `txns` row (a meter sale: Journal.set_meter_state)."""
        set_state = record or self.journal.set_state
        try:
            return await send()
        except NotSignedOn as exc:
            set_state(txn_id, "not_sent", reason="working keys renewed")
            await self.session.renew(link=isinstance(exc, BankSignOnRequired))
            raise HostUnavailable(renewed) from exc
        except HostUnavailable:
            set_state(txn_id, "not_sent")
            raise
        except (OutcomeUnknown, HostError) as exc:
            set_state(txn_id, undo, reason=str(exc.detail)[:200])
            self.wake()
            raise OutcomeUnknown(exc.detail) from exc

    # --- the passes -------------------------------------------------------------------
    async def settle_once(self) -> bool:
        """Send pending reversals, then the other settlers' messages, then backup
        copies. True when nothing is left."""
        async with self._lock:
            return await self._settle()

    async def _settle(self) -> bool:
        reversals, backups = self.journal.in_state("reversing"), self.journal.unsent_backups()
        if not reversals and not backups and not self.journal.in_state(*UNSETTLED, *AWAITING_NEWS) \
                and not self._reversals_owed() and not self.journal.meter_sales_in(*METER_UNSETTLED):
            return True
        if not self.session.signed_on:   # e.g. started while the host was down
            try:
                await self.session.sign_on()
            except KioskError as exc:
                log.info("not signed on yet, %d reversal(s) waiting: %s", len(reversals), exc)
                return False
        for entry in reversals:
            if not await self._reverse(entry):
                return False
        if self._reversals_owed():   # owed by the link for no journal entry of ours: send them too
            try:
                await self.reverser.send_reversals()
            except KioskError as exc:
                log.info("bank link reversal not acknowledged yet: %s", exc)
                return False
        for settle in self._settlers:
            if not await settle():
                return False
        for txn_id, payload in self.journal.unsent_backups():
            try:
                await self.session.with_sign_on(lambda: self.bank.send_backup(payload))
            except KioskError as exc:
                log.info("backup copy of %s not sent yet: %s", txn_id, exc)
                return False
            self.journal.mark_backup_sent(txn_id)
        return True

    async def _reverse(self, entry: JournalEntry) -> bool:
        try:
            # the link signs on by itself when it must (BankLink._fresh_keys)
            status = await self.reverser.reverse(entry.txn_id, entry.amount_fen, entry.detail.get("reason", ""))
        except KioskError as exc:
            log.info("reversal of %s not acknowledged yet: %s", entry.txn_id, exc)
            return False
        self.journal.set_state(entry.txn_id, "reversed", reversal=status)
        reversed_entry = self.journal.get(entry.txn_id)
        assert reversed_entry is not None
        self.journal.queue_backup(entry.txn_id, payment_copy(reversed_entry))
        self._wake.set()
        log.warning("payment %s reversed (%s)", entry.txn_id, status)
        return True

    async def _settle_loop(self) -> None:
        backoff = self._first_backoff_s
        while True:
            self._wake.clear()   # before the pass: a wake during it must not be lost
            try:
                done = await self.settle_once()
            except Exception:    # this task must outlive any surprise: money waits on it
                log.exception("settling failed; retrying")
                done = False
            for task in self._periodic:
                try:
                    await task()
                except Exception:   # noqa: BLE001 - a download must never stop the money's task
                    log.exception("periodic task of the settling loop failed")
            backoff = self._first_backoff_s if done else min(backoff * 2, self.MAX_BACKOFF_S)
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the
                # cancellation of stop() and this task would live on
                async with asyncio.timeout(self.IDLE_PASS_S if done else backoff):
                    await self._wake.wait()
            except TimeoutError:
                pass
