"""`BankLink`: the kiosk's bank client over ISO 8583, in the shape of the JSON
`BankClient` (`sign_on`, `pay`, `reverse`) so the services can move over by
what `bootstrap` hands them, plus echo, balance inquiry, PIN change and
settlement (settlement.py).

Rules (BANK-8583.md §3–§4, docs/bank-link.md "The kiosk's client"):
- one exchange at a time; every request but a reversal takes the next STAN
  from the journal, committed before it leaves;
- a reply counts only when it matches its request and its MAC verifies;
  otherwise "no reply" (reversal reason 98) or a bad MAC (A0);
- a purchase's reversal is journaled (armed) before the 0200 leaves, made
  due when the outcome is unknown, and resent until its 0410 comes; nothing
  new goes out meanwhile (a sign-on may: a reversal needs a MAK);
- sign on again when a reply's header asks, after 39 99/A0 or a bad MAC, and
  on the first exchange of a new business day (the injected clock's date).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date

from common.bank8583 import fields as f
from common.bank8583.codec import Message
from common.bank8583.errors import WireError
from common.bank8583.keys import FIELD62_SIZE, WorkingKeys, decode_field62
from common.bank8583.wire import build, parse
from common.clock import Clock
from common.money import Money
from kiosk.backend_client.bank import PaymentReply, PaymentRequest, ReversalStatus
from kiosk.backend_client.bank import WorkingKeys as PadKeys
from kiosk.backend_client.bank8583 import messages as m
from kiosk.backend_client.bank8583.link import Link
from kiosk.backend_client.bank8583.messages import Exchange
from kiosk.backend_client.bank8583.settlement import MAX_BATCH, Settlement, settle_batch
from kiosk.backend_client.bank8583.settings import LinkSettings
from kiosk.backend_client.bank8583.store import Debit, LinkStore, PendingReversal
from kiosk.domain.errors import (
    BadHostReply, BankDeclined, BankKeyCheckFailed, BankNoReply, BankReversalPending, BankSignOnRequired,
    BankUnavailable, KioskError, NotSignedOn,
)

log = logging.getLogger(__name__)

# how the PIN pad takes a new PIK: wrapped under the TMK, with its check value
# (kiosk.devices.ports.PinPad.load_pin_key; the pad checks 3 bytes of CV)
PinKeyLoader = Callable[[bytes, bytes], Awaitable[None]]
PAD_KCV_SIZE = 3


class BankLink:
    def __init__(self, settings: LinkSettings, store: LinkStore, clock: Clock, *,
                 load_pin_key: PinKeyLoader | None = None, link: Link | None = None) -> None:
        self.settings, self.store, self.clock = settings, store, clock
        self._link = link or Link(settings)
        self._load_pin_key = load_pin_key
        self._lock = asyncio.Lock()
        self._keys: WorkingKeys | None = None     # MAK and TDK live here only, never on disk
        self._key_version = 0
        self._signed_on_day: date | None = None
        self._sign_on_due = False

    async def aclose(self) -> None:
        await self._link.close()

    @property
    def sign_on_due(self) -> bool:
        """True when the next exchange signs on first (header digit 6 = 3, 39
        99/A0, a bad MAC, a new business day, or no keys yet)."""
        return self._keys is None or self._sign_on_due or self._signed_on_day != self.clock.today()

    # --- the exchange ---------------------------------------------------------------
    async def _exchange(self, request: Message, *, mac: bool = True) -> Exchange:
        keys = self._keys
        if mac and keys is None:
            raise NotSignedOn("no working keys yet")
        s = self.settings
        frame = build(s.tpdu, s.header, request, keys.mak if mac and keys else None, s.mac_algorithm)
        raw = await self._link.exchange(frame)
        try:
            reply = parse(raw)
        except WireError as exc:
            raise BankNoReply(m.REASON_NO_REPLY, f"malformed reply: {exc}") from exc
        if not m.matches(request, reply.message):
            raise BankNoReply(m.REASON_NO_REPLY, f"reply {reply.message.mti} does not match {request.mti}")
        code = str(reply.message.fields.get(39, ""))
        if mac and keys is not None and (reply.has_mac or code == m.APPROVED):
            try:
                reply.verify_mac(keys.mak, s.mac_algorithm)
            except WireError as exc:
                self._sign_on_due = True   # our MAK and the front-end's disagree
                raise BankNoReply(m.REASON_BAD_MAC, "reply MAC invalid") from exc
        if reply.header.sign_on_required or code in m.SIGN_ON_AGAIN:
            self._sign_on_due = True
        return Exchange(request, reply)

    async def _fresh_keys(self) -> None:
        """Sign on first when due; the pad gets the new PIK here."""
        if not self.sign_on_due:
            return
        keys = await self._sign_on()
        if self._load_pin_key is not None:
            await self._load_pin_key(keys.pin_key_wrapped, keys.pin_kcv)

    async def _ready_for_pin_block(self) -> None:
        """Reversals owed sent, keys fresh. A sign-on on the way voids the PIN
        block the caller holds (made under the old PIK): BankSignOnRequired."""
        version = self._key_version
        await self._flush_reversals()
        await self._fresh_keys()
        if self._key_version != version:
            raise BankSignOnRequired("working keys renewed before the request: PIN again")

    # --- sign-on and network management -------------------------------------------------
    async def sign_on(self) -> PadKeys:
        """0800 (60.3 004). Returns the PIK for the pad (wrapped, as
        HostSession loads it); MAK and TDK stay in memory. BankKeyCheckFailed
        keeps the old keys."""
        async with self._lock:
            return await self._sign_on()

    async def _sign_on(self) -> PadKeys:
        s = self.settings
        request = m.sign_on(self.store.bank_next_stan(), s.terminal_id, s.merchant_id, self.store.bank_batch(),
                            s.operator)
        done = await self._exchange(request, mac=False)
        if done.code != m.APPROVED:
            raise BankUnavailable(f"sign-on refused with {done.code}", done.code)
        reply = done.reply.message
        try:
            field62 = reply.data(62)
            keys = decode_field62(s.tmk, field62)
            batch = f.Field60.parse(reply.text(60)).batch
        except WireError as exc:
            log.warning("sign-on reply refused, old keys kept: %s", exc)
            raise BankKeyCheckFailed(f"sign-on reply: {exc}") from exc
        self._keys, self._key_version = keys, self._key_version + 1
        self._signed_on_day, self._sign_on_due = self.clock.today(), False
        self.store.bank_set_batch(batch)
        assert len(field62) == FIELD62_SIZE
        return PadKeys(field62[0:16], field62[16:16 + PAD_KCV_SIZE], keys.mak, self._key_version)

    async def echo(self) -> None:
        async with self._lock:
            await self._fresh_keys()
            s = self.settings
            done = await self._exchange(m.network(self.store.bank_next_stan(), s.terminal_id, s.merchant_id,
                                                  self.store.bank_batch(), f.NET_ECHO))
            if done.code != m.APPROVED:
                raise BankUnavailable(f"echo answered {done.code}", done.code)

    # --- reversals --------------------------------------------------------------------
    async def _send_reversal(self, pending: PendingReversal) -> None:
        reason = pending.reason or m.REASON_NO_REPLY
        done = await self._exchange(m.reversal(pending.fields, reason))
        if done.code != m.APPROVED:   # 00 also when the original is unknown (§4)
            raise BankUnavailable(f"reversal of STAN {pending.stan} answered {done.code}", done.code)
        self.store.bank_set_reversal(pending.stan, "done", reason)
        log.warning("reversal of STAN %s (%s) acknowledged", pending.stan, reason)

    async def _flush_reversals(self) -> None:
        """Send every reversal still owed, oldest first; BankReversalPending while
        one is unacknowledged. An `armed` one found here was out when the kiosk
        stopped: its outcome is unknown (98)."""
        for armed in self.store.bank_reversals("armed"):
            self.store.bank_set_reversal(armed.stan, "due", m.REASON_NO_REPLY)
        for pending in self.store.bank_reversals("due"):
            try:
                await self._fresh_keys()
                await self._send_reversal(pending)
            except KioskError as exc:
                raise BankReversalPending(f"reversal of STAN {pending.stan} not acknowledged: {exc}") from exc

    async def reverse(self, txn_id: str, amount_fen: int, reason: str) -> ReversalStatus:
        """The settling task's call: send what is owed for `txn_id` (the link's
        own reason code, not `reason`). An approved purchase the kiosk's
        journal never heard of (it stopped between the 0210 and its journal
        update) is reversed from its recorded debit, which leaves the batch.
        `not_found` when nothing was sent for it."""
        async with self._lock:
            pending = self.store.bank_reversal_of(txn_id)
            if pending is None:
                debit = self.store.bank_debit_of(txn_id)
                if debit is None:
                    return "not_found"
                pending = self._reverse_debit(debit)
            if pending.state == "done":
                return "already_reversed"
            await self._flush_reversals()
            return "reversed"

    def _reverse_debit(self, debit: Debit) -> PendingReversal:
        s = self.settings
        fields = m.debit_reversal_fields(s.terminal_id, s.merchant_id, debit.batch, debit.stan, debit.amount_fen,
                                         debit.date)
        # 06: neither no reply nor a bad MAC; the kiosk lost the approval
        pending = PendingReversal(debit.stan, debit.txn_id, "due", m.REASON_OTHER, fields)
        self.store.bank_reverse_debit(debit, pending)
        log.warning("approved purchase STAN %s (%s) reversed from its debit", debit.stan, debit.txn_id)
        return pending

    async def send_reversals(self) -> None:
        """Every 0400 still owed, whoever's payment it undoes (the settling
        task's call when the link owes one that no journal entry names);
        BankReversalPending until each is acknowledged."""
        async with self._lock:
            await self._flush_reversals()

    # --- purchase ---------------------------------------------------------------------
    async def pay(self, request: PaymentRequest) -> PaymentReply:
        """0200 for a bill. A decline is a reply (`code` as the payment screens
        name it); BankUnavailable / BankReversalPending / BankSignOnRequired mean
        nothing was charged; BankNoReply: a reversal is due."""
        async with self._lock:
            await self._ready_for_pin_block()
            if len(self.store.bank_debits(self.store.bank_batch())) >= MAX_BATCH:
                await settle_batch(self._exchange, self.store, self.settings)
            return await self._purchase(request)

    async def _purchase(self, request: PaymentRequest) -> PaymentReply:
        keys, s = self._keys, self.settings
        assert keys is not None
        now, batch = self.clock.now(), self.store.bank_batch()
        try:
            message = m.purchase("000000", s.terminal_id, s.merchant_id, batch, Money(request["amount_fen"]),
                                 request["track2"], keys.tdk, bytes.fromhex(request["pin_block"]),
                                 m.bill_reference(request["house_no"], request["periods"]))
            build(s.tpdu, s.header, message, keys.mak, s.mac_algorithm)   # refused here, not half-journaled
        except (WireError, ValueError) as exc:
            raise BankUnavailable(f"purchase not sent: {exc}", "96") from exc
        stan = self.store.bank_next_stan()
        message = Message(message.mti, {**message.fields, 11: stan})
        self.store.bank_arm_reversal(PendingReversal(stan, request["txn_id"], "armed", "",
                                                     m.reversal_fields(message, batch, now.date())))
        try:
            done = await self._exchange(message)
        except BankUnavailable:
            self.store.bank_drop_reversal(stan)   # never left
            raise
        except BankNoReply as exc:
            self.store.bank_set_reversal(stan, "due", exc.reason)
            raise
        reply, code = done.reply.message, done.code
        if code == m.DUPLICATE:
            self.store.bank_set_reversal(stan, "due", m.REASON_OTHER)
            raise BankNoReply(m.REASON_OTHER, "bank answered 94 (duplicate)")
        if code != m.APPROVED:
            self.store.bank_drop_reversal(stan)
        day = m.business_day(str(reply.fields.get(15, "")), now.date())
        if code == m.APPROVED:
            rrn = str(reply.fields.get(37, "")).strip()
            # drops the armed reversal in the same transaction
            self.store.bank_record_debit(Debit(batch, stan, request["txn_id"], request["amount_fen"], rrn,
                                               f"{now:%m%d}"))
            approved: PaymentReply = {"txn_id": request["txn_id"], "result": "approved",
                                      "amount_fen": request["amount_fen"], "reference": rrn,
                                      "auth_code": str(reply.fields.get(38, "")).strip()}
            if day:
                approved["business_day"] = day
            return approved
        self._raise_unless_decline(code)
        declined: PaymentReply = {"txn_id": request["txn_id"], "result": "declined",
                                  "amount_fen": request["amount_fen"], "code": m.decline_code(code),
                                  "tries_left": m.tries_left(reply)}
        if day:
            declined["business_day"] = day
        return declined

    @staticmethod
    def _raise_unless_decline(code: str) -> None:
        if code in m.UNAVAILABLE:
            raise BankUnavailable(f"bank answered {code}", code)
        if code in m.SIGN_ON_AGAIN:
            raise BankSignOnRequired(f"bank answered {code}: sign on, PIN again")

    # --- bank-card services -----------------------------------------------------------
    async def _card_service(self, build_request: Callable[[str, str, bytes], Message]) -> Message:
        async with self._lock:
            await self._ready_for_pin_block()
            keys = self._keys
            assert keys is not None
            try:
                request = build_request(self.store.bank_next_stan(), self.store.bank_batch(), keys.tdk)
            except (WireError, ValueError) as exc:
                raise BankUnavailable(f"not sent: {exc}", "96") from exc
            # No reversal: neither moves money. A lost PIN change reply is
            # "outcome unknown" to the resident (BankNoReply), nothing more.
            done = await self._exchange(request)
            if done.code == m.APPROVED:
                return done.reply.message
            self._raise_unless_decline(done.code)
            raise BankDeclined(done.code, m.tries_left(done.reply.message))

    async def balance(self, track2: str, pin_block: bytes) -> Money:
        s = self.settings
        reply = await self._card_service(
            lambda stan, batch, tdk: m.balance(stan, s.terminal_id, s.merchant_id, batch, track2, tdk, pin_block))
        try:
            return f.parse_balance(reply.text(54))
        except WireError as exc:
            raise BadHostReply(f"balance reply: {exc}") from exc

    async def change_pin(self, track2: str, old_block: bytes, new_block: bytes) -> None:
        s = self.settings
        await self._card_service(lambda stan, batch, tdk: m.pin_change(
            stan, s.terminal_id, s.merchant_id, batch, track2, tdk, old_block, new_block))

    # --- settlement -------------------------------------------------------------------
    async def settle(self) -> Settlement:
        """0500 with the batch's totals; when the front-end's disagree, every
        debit as an 0320 and the end of upload. The batch closes on success."""
        async with self._lock:
            await self._flush_reversals()
            await self._fresh_keys()
            return await settle_batch(self._exchange, self.store, self.settings)
