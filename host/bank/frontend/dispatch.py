"""One frame in, one frame out (or none): the front-end's checks in order, each
request in one database transaction (host.db.write_transaction, run again on a
PostgreSQL serialisation failure).

1. the frame parses (common.bank8583.wire), its MTI is a request of §4 and
   it names a terminal (41)                 else no reply: the connection closes
2. the terminal is in [bank.terminals] and its kiosk has a TMK     else 97
3. sign-on (0800) needs nothing more: new keys under the TMK in 62
4. the terminal has a session with keys     else A0, header digit 6 = 3
5. field 64 is the MAC of the request       else A0, header digit 6 = 3
6. the message's own checks and effect      (a field missing or unusable: 96)

A reply's 64 is the session MAK's whenever the request's MAC verified; a reply
at steps 2, 4 and 5 carries none (39 is not 00: the page allows it, and the
terminal's MAK is what is in doubt). Header digit 6 is also 3 when the
session's sign-on was on an earlier business day, and after 99/A0."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy.engine import Connection, Engine

from common.bank8583 import fields as fld
from common.bank8583.codec import FieldValue, Message
from common.bank8583.errors import BadMac, WireError
from common.bank8583.keys import encode_field62
from common.bank8583.wire import Parsed, build, parse
from common.clock import Clock
from host.bank.frontend import financial, session as sessions, settlement
from host.bank.frontend.exchange import (
    APPROVED, MAC_ERROR, MALFUNCTION, NOT_REGISTERED, PIN_ERROR, Answer, Exchange, Malformed, clock_fields,
    reply_mti, session_batch,
)
from host import faults
from host.config import BankLink, HostSettings
from host.db import is_outage, retrying, write_transaction
from host.group_commit import GroupCommitter

log = logging.getLogger(__name__)

Handler = Callable[[Connection, Exchange], Answer]

# The reply's fields (BANK-8583.md §4), 64 aside (added with the MAC); any reply may carry 63.
_ECHO: Final = (3, 4, 11, 25, 41, 42, 49, 60)
REPLY_FIELDS: Final[dict[str, tuple[int, ...]]] = {
    "sign_on": (11, 12, 13, 32, 37, 39, 41, 42, 60, 62),
    "network": (11, 39, 41, 42, 60),
    "purchase": (3, 4, 11, 12, 13, 15, 25, 32, 37, 38, 39, 41, 42, 49, 60, 63),
    "balance": (3, 11, 12, 13, 32, 37, 39, 41, 42, 49, 54, 60, 63),
    "pin_change": (3, 11, 12, 13, 37, 39, 41, 42, 60, 63),
    "reversal": (3, 4, 11, 12, 13, 37, 39, 41, 42, 60),
    "settlement": (11, 12, 13, 15, 37, 39, 41, 42, 48, 60),
    "upload": (11, 39, 41, 42, 60),
}
REQUESTS: Final = frozenset({"0800", "0820", "0200", "0100", "0400", "0500", "0320"})


def _kind(message: Message) -> str:
    """Which reply shape: by MTI, and 3 for an 0200."""
    return {"0800": "sign_on", "0820": "network", "0100": "pin_change", "0400": "reversal",
            "0500": "settlement", "0320": "upload"}.get(message.mti) or \
        ("balance" if message.fields.get(3) == financial.BALANCE else "purchase")


def _network_code(ex: Exchange) -> str:
    try:
        return fld.Field60.parse(ex.text(60)).network
    except WireError:
        raise Malformed("field 60 needs 11 digits") from None


def _sign_on(conn: Connection, ex: Exchange) -> tuple[Answer, Exchange]:
    if _network_code(ex) != fld.NET_SIGN_ON:
        raise Malformed("an 0800 is a sign-on (60.3 004)")
    keys, batch = sessions.sign_on(conn, ex.terminal_id, ex.kiosk_id, ex.tmk, session_batch(ex), ex.day, ex.now)
    field60 = fld.Field60(fld.TYPE_MANAGEMENT, batch, fld.NET_SIGN_ON).encode()
    return Answer(APPROVED, {37: sessions.next_rrn(conn, ex.day), 60: field60,
                             62: encode_field62(ex.tmk, keys)}), ex


def _network(conn: Connection, ex: Exchange) -> Answer:
    code = _network_code(ex)
    if code == fld.NET_SIGN_OFF:
        sessions.sign_off(conn, ex.terminal_id)
    elif code != fld.NET_ECHO:
        raise Malformed(f"an 0820 is an echo (301) or a sign-off (002), not {code}")
    return Answer(APPROVED)


def _upload(conn: Connection, ex: Exchange) -> Answer:
    code = _network_code(ex)
    if code == fld.NET_SETTLEMENT:
        return settlement.upload(conn, ex)
    if code == fld.NET_END_OF_UPLOAD:
        return settlement.end_of_upload(conn, ex)
    raise Malformed(f"an 0320 is a batch upload (201) or its end (202), not {code}")


def _route(message: Message) -> Handler:
    if message.mti == "0200":
        code = message.fields.get(3)
        if code == financial.PURCHASE:
            return financial.purchase
        if code == financial.BALANCE:
            return financial.balance
        raise Malformed(f"an 0200 is a purchase or a balance inquiry, not 3 = {code!r}")
    routes: dict[str, Handler] = {"0820": _network, "0100": financial.pin_change, "0400": financial.reversal,
                                  "0500": settlement.settle, "0320": _upload}
    return routes[message.mti]


@dataclass(frozen=True, slots=True)
class Outcome:
    answer: Answer
    mak: bytes | None          # the reply's MAC key; None: no 64
    processing: str            # header digit 6


class _Refused(Exception):
    """A Malformed request's outcome (96), raised so that its writes roll back."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.answer.code)
        self.outcome = outcome


class FrontEndHandler:
    """What the TCP server calls for each frame, on a worker thread. On SQLite
    the requests of concurrent terminals share commits (host.group_commit:
    one fsync for several, each answered once durable); `group_commit=False`
    gives each its own transaction, as on PostgreSQL (docs/performance.md)."""

    def __init__(self, settings: HostSettings, link: BankLink, engine: Engine, clock: Clock,
                 group_commit: bool | None = None) -> None:
        self.settings, self.link, self.engine, self.clock = settings, link, engine, clock
        if group_commit is None:
            group_commit = engine.dialect.name == "sqlite"
        self.group = GroupCommitter(engine, "bank-link-writer") if group_commit else None

    def close(self) -> None:
        """Stop the group-commit writer (after what is queued)."""
        if self.group is not None:
            self.group.close()

    def handle(self, data: bytes) -> bytes | None:
        try:
            parsed = parse(data)
        except WireError as exc:
            log.info("bank link: a frame that does not parse (%s): connection closed", exc)
            return None
        message = parsed.message
        terminal = message.fields.get(41)
        if message.mti not in REQUESTS or not isinstance(terminal, str):
            log.info("bank link: MTI %s / terminal %r is no request of ours: connection closed",
                     message.mti, terminal)
            return None
        terminal = terminal.rstrip(" ")
        kiosk_id = self.link.kiosk_of(terminal)
        tmk = self.settings.tmk(kiosk_id) if kiosk_id is not None else None
        if kiosk_id is None or tmk is None:
            outcome = Outcome(Answer(NOT_REGISTERED), None, "0")
        else:
            with faults.scope(f"bank.{message.mti}"):      # test-only fault points (host.faults)
                try:
                    outcome = retrying(lambda: self._once(parsed, terminal, kiosk_id, tmk))
                except Exception as exc:   # noqa: BLE001 - the terminal gets 96 (nothing charged: rolled back)
                    if is_outage(exc):     # PostgreSQL restarting: said, not a traceback per frame
                        log.warning("bank link: %s of terminal %s: the database is unavailable (%s)",
                                    message.mti, terminal, type(exc).__name__)
                    else:
                        log.exception("bank link: %s of terminal %s failed", message.mti, terminal)
                    outcome = Outcome(Answer(MALFUNCTION), None, "0")
                faults.point("before_reply")
        return self._reply(parsed, outcome)

    def _once(self, parsed: Parsed, terminal: str, kiosk_id: str, tmk: bytes) -> Outcome:
        """One request in one transaction: its own, or its place in the group
        commit's next batch (its own savepoint there). Either way the outcome
        comes back only once the commit is durable."""
        def work(conn: Connection) -> Outcome:
            return self._in_transaction(conn, parsed, terminal, kiosk_id, tmk)
        try:
            if self.group is not None:
                return self.group.run(work)
            with write_transaction(self.engine) as conn:
                return work(conn)
        except _Refused as refused:     # rolled back (the transaction, or the job's savepoint)
            return refused.outcome

    def _in_transaction(self, conn: Connection, parsed: Parsed, terminal: str, kiosk_id: str,
                        tmk: bytes) -> Outcome:
        request, verified = parsed.message, None
        stale = False
        try:
            now = self.clock.now()
            session = sessions.load_session(conn, terminal, kiosk_id, tmk)
            ex = Exchange(request, self.settings, terminal, kiosk_id, tmk, session, None, now)
            if request.mti == "0800":
                answer, _ = _sign_on(conn, ex)
                return Outcome(answer, None, "0")
            keys = session.keys if session is not None else None
            if session is None or keys is None:
                return Outcome(Answer(MAC_ERROR), None, "3")
            try:
                parsed.verify_mac(keys.mak, self.link.mac)
            except BadMac:
                return Outcome(Answer(MAC_ERROR), None, "3")
            verified = keys.mak
            stale = session.business_day != now.date()
            answer = _route(request)(conn, Exchange(request, self.settings, terminal, kiosk_id, tmk, session,
                                                    keys, now))
        except Malformed as exc:
            log.info("bank link: %s of terminal %s refused: %s", request.mti, terminal, exc)
            raise _Refused(Outcome(Answer(MALFUNCTION), verified, "3" if stale else "0")) from None
        return Outcome(answer, verified, "3" if stale or answer.code in (PIN_ERROR, MAC_ERROR) else "0")

    def _reply(self, parsed: Parsed, outcome: Outcome) -> bytes:
        request, answer = parsed.message, outcome.answer
        allowed = REPLY_FIELDS[_kind(request)]
        values: dict[int, FieldValue] = {n: request.fields[n] for n in _ECHO if n in request.fields}
        values.update(clock_fields(self.clock.now()))
        values[32] = self.link.institution_id
        values.update(answer.fields)
        values[39] = answer.code
        reply = Message(reply_mti(request.mti), {n: v for n, v in sorted(values.items()) if n in allowed})
        header = parsed.header.with_processing(outcome.processing)
        return build(parsed.tpdu.reply(), header, reply, outcome.mak, self.link.mac)
