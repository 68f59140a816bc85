"""Message security for every kiosk -> host POST under /api/v1/bank/ and
/api/v1/property/ (docs/payments.md):

1. the body is JSON with "kiosk_id" and "counter"        else 400 bad_request
2. the kiosk is in the configured fleet                    else 401 unknown_kiosk
3. it has signed on (the MAK is known; sign-on uses the TMK) else 401 not_signed_on
4. header X-MAC = X9.19 MAC of "POST <path>\n" + the body   else 401 bad_mac
5. counter > the last accepted one                         else 409 replay
6. the handler's own checks                                else 400 bad_request
                                                           (or its Refusal's status and code)

Steps 3-6 and the business effect run in one database transaction, which also
stores the new counter; any refusal rolls it back, so a refused message
changes nothing. Every reply sent once the key is known (4-6 and the
answer) carries X-MAC over its exact body bytes under that same key."""
from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from common.crypto import mac_x919, request_mac
from host.bank.keys import KioskState, advance_counter, load_kiosk
from host.config import HostSettings
from host.db import immediate, retrying, writer_lock
from host.http_body import MAX_BODY
from common.clock import Clock, SystemClock


class BadRequest(ValueError):
    """A handler's refusal: 400 {"error": "bad_request", "message": ...}; rolls back."""


class Refusal(Exception):
    """A handler's refusal with its own status and code (the bill look-up's 404
    house_not_found, 400 bad_house_number): MACed like any reply; rolls back."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


# Bounds of every signed message (docs/host-api.md "Limits"): the body is read
# with the cap MAX_BODY (host.http_body) and JSON nested deeper than MAX_DEPTH is refused.
MAX_DEPTH = 16


def _too_deep(value: Any, depth: int = 1) -> bool:
    if depth > MAX_DEPTH:
        return True
    if isinstance(value, dict):
        return any(_too_deep(v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
    if isinstance(value, list):
        return any(_too_deep(v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return False


def check_storable(body: dict[str, Any]) -> None:
    """BadRequest if a string of an authenticated message, key or value, is text
    no database column may hold: a NUL character (PostgreSQL refuses it in any
    text value -- it was a 500 there -- where SQLite stored it) or a lone
    surrogate (`"\\ud800"`: valid JSON, not UTF-8). After the MAC check: an
    unsigned message is refused as unsigned whatever it holds."""
    if _unstorable(body):
        raise BadRequest("a text field holds a NUL character or a lone surrogate")


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value or not value.isascii() and _not_utf8(value)
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _not_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_envelope(raw: bytes) -> tuple[dict[str, Any], str, int]:
    """A signed kiosk message's JSON object, kiosk id and counter (the bank's and
    the fleet's channels alike); BadRequest saying what is wrong otherwise."""
    if len(raw) > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):   # RecursionError: [[[[... thousands deep
        raise BadRequest("the body is not JSON (or nests too deep)") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if _too_deep(body):
        raise BadRequest(f"the body nests deeper than {MAX_DEPTH} levels")
    kiosk_id, counter = body.get("kiosk_id"), body.get("counter")
    if not isinstance(kiosk_id, str) or not 0 < len(kiosk_id) <= 32:
        raise BadRequest("kiosk_id (a string of at most 32 characters) is required")
    if not isinstance(counter, int) or isinstance(counter, bool) or not 0 <= counter < 2 ** 63:
        raise BadRequest("counter (a non-negative integer) is required")
    return body, kiosk_id, counter


@dataclass(frozen=True, slots=True)
class Message:
    kiosk_id: str
    counter: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Context:
    settings: HostSettings
    kiosk: KioskState
    tmk: bytes
    business_day: date
    now: datetime


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    mac: str | None          # hex, upper case; None when no key is known for the sender

    def json(self) -> Any:
        return json.loads(self.body)


# A handler returns the reply body: a dict to serialise, or bytes already
# serialised (an idempotent repeat returns the first answer byte for byte).
Handler = Callable[[Connection, Message, Context], "dict[str, Any] | bytes"]


def encode(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def mac_ok(key: bytes, path: str, body: bytes, header: str | None) -> bool:
    """The request's X-MAC verifies over its endpoint and body (common.crypto.request_mac)."""
    if not header:
        return False
    try:
        given = bytes.fromhex(header.strip())
    except ValueError:
        return False
    return hmac.compare_digest(request_mac(key, path, body), given)


def _signed(status: int, reply: dict[str, Any] | bytes, key: bytes | None) -> Reply:
    body = reply if isinstance(reply, bytes) else encode(reply)
    return Reply(status, body, mac_x919(key, body).hex().upper() if key is not None else None)


def _error(status: int, code: str, message: str, key: bytes | None = None) -> Reply:
    return _signed(status, {"error": code, "message": message}, key)


def _writer_lock(engine: Engine) -> AbstractContextManager[Any]:
    """One lock per SQLite database for every writer on it (bank, card centre,
    fleet, console: host.db.writer_lock): SQLite has one writer, and two
    overlapping read-then-write transactions would fail with "database is locked"."""
    return writer_lock(engine)


class SecureChannel:
    """Runs a handler behind the message checks, in one transaction per message.
    On SQLite the writers of this process run one at a time (host.db's write
    lock, shared with the console and the other channels) and the transaction
    takes SQLite's write lock at BEGIN IMMEDIATE (with busy_timeout for writers
    of other processes), so a read-then-write never meets another writer and is
    never refused with "database is locked"; on PostgreSQL rows are locked with
    SELECT ... FOR UPDATE (the kiosk's row first: one message per kiosk at a
    time, and a counter is accepted once), and a message whose transaction the
    database aborted (deadlock, serialisation failure) runs again."""

    def __init__(self, engine: Engine, settings: HostSettings, *,
                 clock: Clock | None = None) -> None:
        self.engine, self.settings, self.clock = engine, settings, clock or SystemClock()

    def handle(self, handler: Handler, path: str, raw: bytes, mac_header: str | None, *,
               under_tmk: bool = False) -> Reply:
        """`path`: the endpoint the message was posted to, which its MAC covers."""
        try:
            body, kiosk_id, counter = read_envelope(raw)
        except BadRequest as exc:
            return _error(400, "bad_request", str(exc))
        tmk = self.settings.tmk(kiosk_id)
        if tmk is None:
            return _error(401, "unknown_kiosk", "this kiosk is not in the host's fleet")

        # a deadlock or serialisation failure (PostgreSQL) rolled everything back: the
        # whole message runs again (host.db.retrying), the kiosk never sees a 500 for it
        return retrying(lambda: self._once(handler, path, raw, mac_header, under_tmk, body, kiosk_id, counter, tmk))

    def _once(self, handler: Handler, path: str, raw: bytes, mac_header: str | None, under_tmk: bool,
              body: dict[str, Any], kiosk_id: str, counter: int, tmk: bytes) -> Reply:
        with _writer_lock(self.engine), self.engine.connect() as conn:
            tx = immediate(conn).begin()
            try:
                state = load_kiosk(conn, kiosk_id, tmk)
                key = tmk if under_tmk else state.mak
                if key is None:
                    tx.rollback()
                    return _error(401, "not_signed_on", "sign on first (POST /api/v1/bank/sign-on)")
                if not mac_ok(key, path, raw, mac_header):
                    tx.rollback()
                    return _error(401, "bad_mac", "the message MAC does not verify", key)
                if counter <= state.last_counter:
                    tx.rollback()
                    return _error(409, "replay", f"counter {counter} is not above the last accepted "
                                  f"{state.last_counter}", key)
                # one reading: the business day is the date of the moment the
                # message is booked, even a millisecond before midnight
                now = self.clock.now()
                context = Context(self.settings, state, tmk, now.date(), now)
                try:
                    check_storable(body)
                    reply = handler(conn, Message(kiosk_id, counter, body), context)
                except BadRequest as exc:
                    tx.rollback()
                    return _error(400, "bad_request", str(exc), key)
                except Refusal as exc:
                    tx.rollback()
                    return _error(exc.status, exc.code, str(exc), key)
                if not advance_counter(conn, kiosk_id, counter):    # another worker took it meanwhile
                    tx.rollback()
                    return _error(409, "replay", f"counter {counter} was accepted once already", key)
                tx.commit()
            except BaseException:
                if tx.is_active:
                    tx.rollback()
                raise
        # sign-on replies under the TMK; everything else under the MAK the request used
        return _signed(200, reply, key)


# --- field helpers for handlers ---------------------------------------------------
def text_field(body: dict[str, Any], name: str, max_len: int = 64, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise BadRequest(f"{name} must be a non-empty string of at most {max_len} characters")
    return value


def int_field(body: dict[str, Any], name: str, minimum: int = 0) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value < 2 ** 63:
        raise BadRequest(f"{name} must be an integer >= {minimum}")
    return value
