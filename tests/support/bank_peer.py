"""A scripted bank front-end for the kiosk's 8583 client (tests/bank8583/
test_client_*.py): a threaded TCP server on loopback, one per test module,
built from common.bank8583 under the demo keys of BANK-8583-examples.md.

Each request takes the next scripted answer (`peer.script(...)`), else
`approve`. An answer is a function of the parsed request: it returns the
reply's bytes, or None to answer nothing (`silent`: hold the connection open
until the client gives up; `cut`: close it). Every frame received is kept, as
received, in `peer.received` (what the kiosk put on the socket)."""
from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from common.bank8583 import fields as f
from common.bank8583.codec import FieldValue, Message
from common.bank8583.framing import LEN_SIZE, frame_length
from common.bank8583.keys import WorkingKeys, encode_field62
from common.bank8583.wire import Parsed, build, parse
from common.money import Money
from common.bank8583.keys import ecb_encrypt
from common.crypto import pin_block_format0
from common.clock import ManualClock
from kiosk.backend_client.bank import PaymentRequest
from kiosk.backend_client.bank8583.client import BankLink
from kiosk.backend_client.bank8583.settings import LinkSettings
from kiosk.services.journal import Journal
from tests.support.bank8583 import KEYS, MERCHANT, PAN, PIN, REPLY_TPDU, TERMINAL, TMK, TRACK2

# 12 (local time) the examples' replies carry, by reply MTI; 13 and 15 are 1205
REPLY_TIME = {"0810": "080000", "0210": "101530", "0410": "101600", "0510": "230000"}
# the fields each reply carries (BANK-8583.md §4), beyond 12 13 15 32 37 38 39 64
ECHOED = (3, 4, 11, 25, 41, 42, 49, 60)
REPLY_FIELDS = {
    "0810": (11, 12, 13, 32, 37, 39, 41, 42, 60, 62),
    "0830": (11, 39, 41, 42, 60, 64),
    "0210": (3, 4, 11, 12, 13, 15, 25, 32, 37, 38, 39, 41, 42, 49, 60, 64),
    "0210b": (3, 11, 12, 13, 32, 37, 39, 41, 42, 49, 54, 60, 64),
    "0110": (3, 11, 12, 13, 37, 39, 41, 42, 60, 64),
    "0410": (3, 4, 11, 12, 13, 37, 39, 41, 42, 60, 64),
    "0510": (11, 12, 13, 15, 37, 39, 41, 42, 48, 60, 64),
    "0330": (11, 39, 41, 42, 60, 64),
}

Answer = Callable[["BankPeer", Parsed], bytes | None]


@dataclass
class BankPeer:
    port: int = 0
    keys: WorkingKeys = KEYS          # what a sign-on hands out (and the MAK replies use)
    batch: str = "000001"             # 60.2 of the sign-on reply
    balance_fen: int = 123456
    received: list[bytes] = field(default_factory=list)
    _answers: deque[Answer] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self._answers.clear()
        self.keys, self.batch = KEYS, "000001"

    def script(self, *answers: Answer) -> None:
        """The answers to the next requests, in order; `approve` after them."""
        with self._lock:
            self._answers.extend(answers)

    def requests(self) -> list[Message]:
        return [parse(raw).message for raw in self.received]

    def answer(self, raw: bytes) -> bytes | None:
        with self._lock:
            self.received.append(raw)
            answer = self._answers.popleft() if self._answers else approve
        return answer(self, parse(raw))

    # --- the replies --------------------------------------------------------------
    def reply(self, request: Parsed, code: str = "00", *, mac: bool | None = None, processing: str = "0",
              stan: str | None = None, extra: dict[int, FieldValue] | None = None) -> bytes:
        """The reply §4 prescribes for `request`, 39 = `code`; 64 unless a
        decline (or `mac` says); `stan` answers another STAN."""
        req = request.message
        mti = f"{int(req.mti) + 10:04d}"
        kind = "0210b" if mti == "0210" and req.fields.get(3) == "310000" else mti
        rrn_stan = str(req.fields[11])
        values: dict[int, FieldValue] = {n: v for n, v in req.fields.items() if n in ECHOED}
        values.update({12: REPLY_TIME.get(mti, "101530"), 13: "1205", 15: "1205", 32: "0104",
                       37: "261205" + rrn_stan, 38: "123456", 39: code, 54: f.balance(Money(self.balance_fen))})
        if mti == "0810":
            values[60] = f.Field60(f.TYPE_MANAGEMENT, self.batch, f.NET_SIGN_ON).encode()
            values[62] = encode_field62(TMK, self.keys)
        if mti == "0510":
            totals = f.Totals.parse(str(req.fields[48]))
            values[48] = f.Totals(totals.debit, totals.debit_count, code=f.SETTLE_BALANCED).encode()
        values.update(extra or {})
        if stan is not None:
            values[11] = stan
        wanted = {n for n in REPLY_FIELDS[kind] if n != 64 and (n != 38 or code == "00")} | set(extra or {})
        message = Message(mti, {n: values[n] for n in sorted(wanted) if n in values})
        with_mac = (64 in REPLY_FIELDS[kind] and code == "00") if mac is None else mac
        return build(REPLY_TPDU, request.header.with_processing(processing), message,
                     self.keys.mak if with_mac else None)


# --- answers (module functions, so a test reads `peer.script(decline("51"), silent)`) ---
def approve(peer: BankPeer, request: Parsed) -> bytes:
    return peer.reply(request)


def decline(code: str, *, tries: int | None = None, mac: bool | None = None) -> Answer:
    """39 = `code`; 63 `T=<tries>` when given (a wrong PIN's tries left)."""
    extra: dict[int, FieldValue] = {63: f"T={tries}"} if tries is not None else {}

    def answer(peer: BankPeer, request: Parsed) -> bytes:
        return peer.reply(request, code, mac=mac, extra=extra)
    return answer


def silent(peer: BankPeer, request: Parsed) -> None:
    return None


def cut(peer: BankPeer, request: Parsed) -> bytes:
    return b""   # the handler closes the connection without a reply


def other_stan(peer: BankPeer, request: Parsed) -> bytes:
    stan = f"{int(str(request.message.fields[11])) % 999999 + 1:06d}"
    return peer.reply(request, stan=stan)


def bad_mac(peer: BankPeer, request: Parsed) -> bytes:
    good = peer.reply(request, mac=True)
    return good[:-8] + (b"00000000" if good[-8:] != b"00000000" else b"11111111")


def asks_sign_on(peer: BankPeer, request: Parsed) -> bytes:
    return peer.reply(request, processing="3")


def bad_check_value(peer: BankPeer, request: Parsed) -> bytes:
    """A sign-on reply whose MAK check value is wrong (new keys sent)."""
    field62 = bytearray(encode_field62(TMK, peer.keys))
    field62[36] ^= 0xFF
    return peer.reply(request, extra={62: bytes(field62)})


def unbalanced(peer: BankPeer, request: Parsed) -> bytes:
    totals = f.Totals.parse(str(request.message.fields[48]))
    echoed = f.Totals(totals.debit, totals.debit_count, code=f.SETTLE_UNBALANCED).encode()
    return peer.reply(request, extra={48: echoed})


# --- the server ---------------------------------------------------------------------
class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def _read(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def handle(self) -> None:
        sock: socket.socket = self.request
        if isinstance(sock, ssl.SSLSocket):
            try:
                sock.do_handshake()
            except OSError:            # the client did not trust us, or spoke plain TCP: nothing read
                return
        while True:   # one exchange per connection by default; more when the client keeps it
            prefix = self._read(LEN_SIZE)
            if prefix is None:
                return
            body = self._read(frame_length(prefix))
            if body is None:
                return
            reply = self.server.peer.answer(prefix + body)
            if reply is None:          # silent: wait for the client to give up
                while sock.recv(1024):
                    pass
                return
            if not reply:              # cut
                return
            sock.sendall(reply)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    peer: BankPeer
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is None:
            return sock, address
        # the handshake on the handler's thread, not the accept loop's
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[BankPeer]:
    """A peer on a free loopback port, inside TLS with `tls` (a server context)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.peer, server.tls = BankPeer(port=server.server_address[1]), tls
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="bank-peer",
                              daemon=True)
    thread.start()
    try:
        yield server.peer
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def bank_peer() -> Iterator[BankPeer]:
    with serving() as peer:
        yield peer


# --- the client under test ------------------------------------------------------------
EXAMPLE_INSTANT = datetime(2026, 12, 5, 10, 15, 30)   # the examples' purchase


def link_settings(peer: BankPeer, **overrides: Any) -> LinkSettings:
    """The examples' terminal against the peer; a short reply timeout (the
    `silent` answer costs the test this long)."""
    base: dict[str, Any] = {"host": "127.0.0.1", "port": peer.port, "terminal_id": TERMINAL,
                            "merchant_id": MERCHANT, "tmk": TMK, "reply_timeout_s": 0.2}
    return LinkSettings(**{**base, **overrides})


def set_stan(journal: Journal, last: int) -> None:
    """The STAN the journal last used (the next request takes `last` + 1)."""
    with journal._lock:
        journal._db.execute("UPDATE bank_link SET stan = ? WHERE id = 1", (last,))


def payment(txn_id: str = "T1", amount_fen: int = 120174, track2: str = TRACK2, pin: str = PIN,
            pan: str = PAN) -> PaymentRequest:
    """The examples' purchase as PaymentService asks for it; the PIN block made
    as the pad makes it (format 0 under the PIK)."""
    block = ecb_encrypt(KEYS.pik, pin_block_format0(pin, pan))
    return {"txn_id": txn_id, "house_no": "3-2-1202", "amount_fen": amount_fen, "periods": ["2026-10", "2026-11"],
            "pan": pan, "track2": track2, "expiry": "3012", "pin_block": block.hex().upper(),
            "local_time": EXAMPLE_INSTANT.isoformat()}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(EXAMPLE_INSTANT)


@pytest.fixture
def journal(tmp_path: Path, clock: ManualClock) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.db", clock)
    yield j
    j.close()


@pytest.fixture
def loaded_keys() -> list[tuple[bytes, bytes]]:
    """What the link handed the PIN pad's key loading (wrapped PIK, check value)."""
    return []


@pytest.fixture
async def bank(bank_peer: BankPeer, journal: Journal, clock: ManualClock,
               loaded_keys: list[tuple[bytes, bytes]]) -> AsyncIterator[BankLink]:
    """A fresh client against a reset peer (the PIN pad's loading recorded)."""
    bank_peer.reset()

    async def load(wrapped: bytes, check: bytes) -> None:
        loaded_keys.append((wrapped, check))
    link = BankLink(link_settings(bank_peer), journal, clock, load_pin_key=load)
    yield link
    await link.aclose()
