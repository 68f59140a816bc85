"""The one-card's tear-safe purse (DESIGN §5 "MIFARE Classic 1K", steps 1–7 and
recovery) over kiosk/cards/mifare.py. docs/onecard.md has the rules and the
choices we made where the contract is silent.

`present` runs step 0 (UID), steps 1 and 2 and any recovery, and says what it
found; `debit` / `credit` then run steps 3–7 for one new operation. A card
whose purse cannot be trusted is refused (a `PurseResult` with outcome
REFUSED on the presentation; `OneCardNeedsStaff` if asked to go on). The
terminal id and the time are inputs; `on_step(uid, step, amount)` is called
before each step so that a journal can keep UID, step and amount. A card that
leaves during steps 3–7, or during a recovery's writes, raises CardTorn: the
next presentation, at any kiosk, recovers it."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from common.onecard import (DEMO_MAP, BLACK_OK, MAX_AMOUNT, COUNT_MODULO, Flag, KeyType, MalformedBlock,
                            SectorKeyProvider, SectorMap, TxnType, sector_of)
from common.onecard_blocks import PublicInfo, Record, decode_value, read_public_info
from kiosk.cards.mifare import MifareClassic, ValueOp
from kiosk.domain.errors import (CardBlacklisted, CardKeyMissing, CardRemoved, CardTorn, OneCardNeedsStaff,
                                 WalletInsufficient, WalletLimitExceeded)


class Step(IntEnum):
    UID = 0
    READ_PUBLIC_INFO = 1
    READ_PURSE = 2
    MARK_PENDING = 3
    VALUE_OP = 4
    BACKUP = 5
    RECORD = 6
    FINISH = 7
    RECOVER = 8         # a recovery starts (then 5, 6, 7 as it needs them)


class Outcome(StrEnum):
    APPLIED = "applied"                          # the new operation, steps 3–7 done
    RECOVERED_APPLIED = "recovered_applied"      # an earlier torn operation had applied: finished
    RECOVERED_NOT_APPLIED = "recovered_not_applied"   # it had not: its flag cleared
    REFUSED = "refused"                          # purse not trustworthy: staff must look


StepHook = Callable[[bytes, Step, int], None]


@dataclass(frozen=True)
class PurseResult:
    uid: bytes
    outcome: Outcome
    txn_type: int = 0
    amount: int = 0
    balance_before: int = 0
    balance_after: int = 0
    count: int = 0              # the card's transaction count afterwards
    reason: str = ""            # why it was refused


@dataclass(frozen=True)
class Presentation:
    """The card after steps 1, 2 and any recovery."""
    uid: bytes
    info: PublicInfo | None     # None when refused
    balance: int | None
    recovery: PurseResult | None

    @property
    def refused(self) -> bool:
        return self.recovery is not None and self.recovery.outcome is Outcome.REFUSED

    @property
    def blacklisted(self) -> bool:
        return self.info is not None and self.info.black != BLACK_OK


class _Refuse(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OneCardPurse:
    def __init__(self, card: MifareClassic, keys: SectorKeyProvider, sector_map: SectorMap = DEMO_MAP,
                 on_step: StepHook | None = None) -> None:
        self._card, self._keys, self._map, self._on_step = card, keys, sector_map, on_step
        self._uid = b""

    # --- presentation: steps 0–2, then any recovery ------------------------------------
    def present(self, terminal_id: bytes, when: datetime) -> Presentation:
        self._step(Step.UID, 0)
        self._uid = self._card.uid()
        try:
            return self._present(terminal_id, when)
        except _Refuse as refusal:
            return Presentation(self._uid, None, None,
                                PurseResult(self._uid, Outcome.REFUSED, reason=refusal.reason))

    def _present(self, terminal_id: bytes, when: datetime) -> Presentation:
        m = self._map
        self._step(Step.READ_PUBLIC_INFO, 0)
        self._login(m.public_block, KeyType.A)
        b24, b25 = self._card.read(m.public_block), self._card.read(m.public_inverse_block)
        try:
            info, rewrite = read_public_info(b24, b25)
        except MalformedBlock:
            raise _Refuse("public info: neither block 24 nor the inverse of 25 is valid") from None
        if info.flag not in (Flag.IN_PROGRESS, Flag.DONE):
            raise _Refuse(f"process flag {info.flag:02X}")
        self._step(Step.READ_PURSE, info.pending_amount)
        purse, backup = self._read_purse()
        if info.flag == Flag.DONE:
            if purse != backup:
                raise _Refuse(f"purse {purse} and backup {backup} differ with the flag done")
            if not rewrite:
                return Presentation(self._uid, info, purse, None)
            with self._torn_is_reported():      # a tear at step 3: nothing was applied
                self._step(Step.RECOVER, 0)
                self._write_public(info)
            attempted = _lenient(b24)
            return Presentation(self._uid, info, purse, PurseResult(
                self._uid, Outcome.RECOVERED_NOT_APPLIED, attempted.pending_type, attempted.pending_amount,
                purse, purse, info.count))
        with self._torn_is_reported():
            return self._recover(info, purse, backup, terminal_id, when)

    def _read_purse(self) -> tuple[int, int]:
        """Step 2: both copies, a malformed one restored from the other."""
        m = self._map
        self._login(m.purse_block, KeyType.A)
        purse, backup = _value(self._card.read(m.purse_block)), _value(self._card.read(m.backup_block))
        if purse is None and backup is None:
            raise _Refuse("both purse copies are malformed")
        if purse is None:
            assert backup is not None
            self._card.restore_transfer(m.backup_block, m.purse_block)
            purse = backup
        elif backup is None:
            self._card.restore_transfer(m.purse_block, m.backup_block)
            backup = purse
        for value in (purse, backup):
            if not 0 <= value <= MAX_AMOUNT:
                raise _Refuse(f"purse value {value} is outside 0..{MAX_AMOUNT}")
        return purse, backup

    def _recover(self, info: PublicInfo, purse: int, backup: int, terminal_id: bytes,
                 when: datetime) -> Presentation:
        try:
            txn_type = TxnType(info.pending_type)
        except ValueError:
            raise _Refuse(f"pending type {info.pending_type:02X}") from None
        amount, before = info.pending_amount, info.balance_before
        applied = before + amount if txn_type.is_credit else before - amount
        self._step(Step.RECOVER, amount)
        if purse == before and backup != purse:
            raise _Refuse(f"in progress, purse = balance before {before} but backup {backup}")
        if purse == before:
            done = _cleared(info, advance=False)
            self._step(Step.FINISH, amount)
            self._write_public(done)
            outcome, after = Outcome.RECOVERED_NOT_APPLIED, before
        elif purse == applied:
            self._step(Step.BACKUP, amount)
            self._card.restore_transfer(self._map.purse_block, self._map.backup_block)
            self._write_record_if_missing(info, txn_type, amount, purse, terminal_id, when)
            done = _cleared(info, advance=True)
            self._step(Step.FINISH, amount)
            self._write_public(done)
            outcome, after = Outcome.RECOVERED_APPLIED, purse
        else:
            raise _Refuse(f"in progress, purse {purse} is neither {before} nor {applied}")
        return Presentation(self._uid, done, after,
                            PurseResult(self._uid, outcome, txn_type, amount, before, after, done.count))

    def _write_record_if_missing(self, info: PublicInfo, txn_type: TxnType, amount: int, balance_after: int,
                                 terminal_id: bytes, when: datetime) -> None:
        self._step(Step.RECORD, amount)
        block = self._map.record_block(info.next_slot)
        wanted = Record.make(info.count + 1, txn_type, amount, balance_after, terminal_id, when)
        self._login(block, KeyType.A)
        try:
            if Record.decode(self._card.read(block)).same_transaction(wanted):
                return
        except MalformedBlock:
            pass
        self._card.write(block, wanted.encode())

    # --- a new operation: steps 3–7 ---------------------------------------------------
    def debit(self, p: Presentation, amount: int, txn_type: TxnType, terminal_id: bytes,
              when: datetime) -> PurseResult:
        if txn_type.is_credit:
            raise ValueError(f"{txn_type.name} is a credit")
        balance = self._startable(p, amount)
        if amount > balance:
            raise WalletInsufficient(f"one-card balance {balance} fen, debit {amount}")
        return self._apply(p, amount, txn_type, terminal_id, when)

    def credit(self, p: Presentation, amount: int, txn_type: TxnType, terminal_id: bytes,
               when: datetime) -> PurseResult:
        if not txn_type.is_credit:
            raise ValueError(f"{txn_type.name} is a debit")
        balance = self._startable(p, amount)
        if balance + amount > MAX_AMOUNT:
            raise WalletLimitExceeded(f"one-card balance {balance} + {amount} fen is over {MAX_AMOUNT}")
        return self._apply(p, amount, txn_type, terminal_id, when)

    def _startable(self, p: Presentation, amount: int) -> int:
        if p.uid != self._uid:
            raise ValueError("the presentation is of another card")
        if p.refused or p.info is None or p.balance is None:
            reason = p.recovery.reason if p.recovery is not None else "not presented"
            raise OneCardNeedsStaff(p.uid.hex().upper(), reason)
        if p.blacklisted:     # a black-flagged card completes a recovery but starts nothing new
            raise CardBlacklisted(f"one-card {p.uid.hex().upper()} is black-flagged")
        if not 1 <= amount <= MAX_AMOUNT:
            raise ValueError(f"an amount is 1..{MAX_AMOUNT} fen")
        return p.balance

    def _apply(self, p: Presentation, amount: int, txn_type: TxnType, terminal_id: bytes,
               when: datetime) -> PurseResult:
        assert p.info is not None and p.balance is not None
        m, before = self._map, p.balance
        after = before + amount if txn_type.is_credit else before - amount
        with self._torn_is_reported():
            self._step(Step.MARK_PENDING, amount)
            pending = dataclasses.replace(p.info, flag=Flag.IN_PROGRESS, pending_type=txn_type,
                                          pending_amount=amount, balance_before=before)
            self._write_public(pending)
            self._step(Step.VALUE_OP, amount)
            self._login(m.purse_block, KeyType.B if txn_type.is_credit else KeyType.A)
            self._card.value_op(m.purse_block, ValueOp.INCREMENT if txn_type.is_credit else ValueOp.DECREMENT,
                                amount)
            read_back = self._card.read_value(m.purse_block)
            if read_back != after:
                raise OneCardNeedsStaff(self._uid.hex().upper(),
                                        f"purse reads {read_back} after the value operation, expected {after}")
            self._step(Step.BACKUP, amount)
            self._card.restore_transfer(m.purse_block, m.backup_block)
            self._step(Step.RECORD, amount)
            block = m.record_block(pending.next_slot)
            self._login(block, KeyType.A)
            self._card.write(block, Record.make(pending.count + 1, txn_type, amount, after, terminal_id,
                                                when).encode())
            self._step(Step.FINISH, amount)
            done = _cleared(pending, advance=True)
            self._write_public(done)
        return PurseResult(self._uid, Outcome.APPLIED, txn_type, amount, before, after, done.count)

    # --- helpers ----------------------------------------------------------------------
    def _write_public(self, info: PublicInfo) -> None:
        """Block 24, then 25 (its inverse)."""
        self._login(self._map.public_block, KeyType.A)
        b24, b25 = info.blocks()
        self._card.write(self._map.public_block, b24)
        self._card.write(self._map.public_inverse_block, b25)

    def _login(self, block: int, key_type: KeyType) -> None:
        try:
            keys = self._keys.sector_keys(self._uid, sector_of(block))
        except LookupError as exc:
            raise CardKeyMissing(f"no key for sector {sector_of(block)}: {exc}") from exc
        self._card.login(block, key_type, keys.of(key_type))

    def _step(self, step: Step, amount: int) -> None:
        if self._on_step is not None:
            self._on_step(self._uid, step, amount)

    @contextmanager
    def _torn_is_reported(self) -> Iterator[None]:
        try:
            yield
        except CardRemoved as exc:
            raise CardTorn(self._uid.hex().upper(), f"one-card {self._uid.hex().upper()} left during a write") \
                from exc


def _value(raw: bytes) -> int | None:
    try:
        return decode_value(raw)[0]
    except MalformedBlock:
        return None


def _lenient(b24: bytes) -> PublicInfo:
    """What a torn block 24 says was attempted (for the report only)."""
    try:
        return PublicInfo.decode(b24)
    except MalformedBlock:
        return PublicInfo(0, 0, 0)


def _cleared(info: PublicInfo, *, advance: bool) -> PublicInfo:
    """Step 7 (advance: pointer + 1, count + 1) or a not-applied recovery: flag
    done, pending type, amount and balance before zeroed."""
    return dataclasses.replace(
        info, pointer=info.next_slot if advance else info.pointer,
        count=(info.count + 1) % COUNT_MODULO if advance else info.count,
        flag=Flag.DONE, pending_type=0, pending_amount=0, balance_before=0)

