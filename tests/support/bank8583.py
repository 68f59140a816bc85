"""The demo set of BANK-8583-examples.md (../shared): keys, addresses, header,
terminal, and `hexjoin` for frames written field by field in the tests; and a
test terminal (`Terminal`, built on common.bank8583 alone) and a front-end on
its own event loop (`FrontEndThread`) for tests/host/test_bank8583_*.py; and
bill payments through it (`with_terminal`, `pay_bill`) for the tests that paid
over the removed JSON bank routes."""
from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from common.bank8583 import fields as fld
from common.bank8583.codec import FieldValue, Message
from common.bank8583.framing import Header, Tpdu, frame_length
from common.bank8583.keys import WorkingKeys, decode_field62, ecb_encrypt
from common.bank8583.tracks import seal_track2
from common.bank8583.wire import Parsed, build, parse
from common.crypto import pin_block_format0
from common.money import Money

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
PIK = bytes.fromhex("11111111111111112222222222222222")
MAK = bytes.fromhex("33333333333333334444444444444444")
TDK = bytes.fromhex("55555555555555556666666666666666")
KEYS = WorkingKeys(PIK, MAK, TDK)

REQUEST_TPDU = Tpdu("0003", "0000")   # kiosk -> front-end: 60 0003 0000
REPLY_TPDU = REQUEST_TPDU.reply()     # 60 0000 0003
HEADER = Header(version="31")         # 60 31 0 0 000000

TERMINAL = "KIOSK001"                 # 41
MERCHANT = "898440350110001"          # 42
PAN = "6222020000000000017"
TRACK2 = "6222020000000000017=30121010000012345"
PIN = "123456"
BILL_REF = "H=3-2-1202;P=2026-10,2026-11"


def hexjoin(*parts: str) -> bytes:
    """Hex written in pieces (one per field, spaces allowed) as bytes."""
    return bytes.fromhex("".join(parts).replace(" ", ""))


# --- a test terminal and a front-end on loopback (tests/host/test_bank8583_*.py) ---


def bare_track(track2: str) -> str:
    """A card's track 2 without the sentinels (;…?), as field 35 carries it."""
    return track2.strip(";?")


def read_reply(sock: socket.socket) -> bytes:
    """One frame (LEN, then LEN bytes); b"" when the peer closed before a whole one."""
    head = _read(sock, 2)
    if len(head) < 2:
        return b""
    body = _read(sock, frame_length(head))
    return head + body


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


@dataclass
class Terminal:
    """A kiosk's side of the link, built on common.bank8583: one connection per
    exchange (the contract's default), keys from a sign-on, STANs counted."""

    port: int
    tmk: bytes = TMK
    terminal_id: str = TERMINAL
    merchant: str = MERCHANT
    batch: str = "000001"
    stan: int = 0
    keys: Any = None
    last_header: Any = None
    sent: list[bytes] = field(default_factory=list)

    def next_stan(self) -> str:
        self.stan = self.stan % 999999 + 1
        return f"{self.stan:06d}"

    def send_raw(self, data: bytes, timeout: float = 5.0) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            return read_reply(sock)

    def exchange(self, mti: str, values: dict[int, FieldValue], *, mac: bool = True,
                 mak: bytes | None = None) -> Parsed:
        fields_ = {41: self.terminal_id, 42: self.merchant, **values}
        key = (mak or (self.keys.mak if self.keys is not None else bytes(16))) if mac else None
        frame = build(REQUEST_TPDU, HEADER, Message(mti, dict(sorted(fields_.items()))), key)
        self.sent.append(frame)
        reply = self.send_raw(frame)
        assert reply, "no reply"
        parsed = parse(reply)
        self.last_header = parsed.header
        return parsed

    def field60(self, type_code: str, network: str = fld.NET_FINANCIAL) -> str:
        return fld.Field60(type_code, self.batch, network).encode()

    def sign_on(self) -> Parsed:
        reply = self.exchange("0800", {11: self.next_stan(), 60: self.field60(fld.TYPE_MANAGEMENT, fld.NET_SIGN_ON),
                                       63: "01"}, mac=False)
        if reply.message.fields.get(39) == "00":
            self.keys = decode_field62(self.tmk, reply.message.data(62))
            self.batch = fld.Field60.parse(reply.message.text(60)).batch
        return reply

    def network(self, code: str) -> Parsed:
        return self.exchange("0820", {11: self.next_stan(), 60: self.field60(fld.TYPE_MANAGEMENT, code)})

    def card_fields(self, track2: str, pin: str, pan: str) -> dict[int, FieldValue]:
        field35, encrypted = seal_track2(self.keys.tdk, bare_track(track2))
        return {22: "021", 25: "00", 26: "12", 35: field35, 49: "156",
                52: ecb_encrypt(self.keys.pik, pin_block_format0(pin, pan)),
                53: fld.security_control(encrypted)}

    def purchase(self, track2: str, pin: str, pan: str, fen: int, *, stan: str | None = None,
                 bill_ref: str = BILL_REF) -> Parsed:
        return self.exchange("0200", {3: "000000", 4: f"{fen:012d}", 11: stan or self.next_stan(),
                                      **self.card_fields(track2, pin, pan),
                                      60: self.field60(fld.TYPE_PURCHASE), 63: bill_ref})

    def balance(self, track2: str, pin: str, pan: str) -> Parsed:
        return self.exchange("0200", {3: "310000", 11: self.next_stan(), **self.card_fields(track2, pin, pan),
                                      60: self.field60(fld.TYPE_BALANCE)})

    def pin_change(self, track2: str, old: str, new: str, pan: str) -> Parsed:
        return self.exchange("0100", {3: "700000", 11: self.next_stan(), **self.card_fields(track2, old, pan),
                                      60: self.field60(fld.TYPE_PIN_CHANGE),
                                      62: ecb_encrypt(self.keys.pik, pin_block_format0(new, pan))})

    def reversal(self, stan: str, fen: int, reason: str = "98", date: str = "1205") -> Parsed:
        return self.exchange("0400", {3: "000000", 4: f"{fen:012d}", 11: stan, 22: "021", 25: "00", 39: reason,
                                      49: "156", 60: self.field60(fld.TYPE_PURCHASE),
                                      61: fld.Field61(self.batch, stan, date).encode()})

    def settle(self, debit_fen: int, count: int) -> Parsed:
        totals = fld.Totals(Money(debit_fen), count)
        return self.exchange("0500", {11: self.next_stan(), 48: totals.encode(), 49: "156",
                                      60: self.field60(fld.TYPE_MANAGEMENT, fld.NET_SETTLEMENT), 63: "01"})

    def upload(self, stan: str, fen: int, rrn: str, date: str = "1205") -> Parsed:
        return self.exchange("0320", {4: f"{fen:012d}", 11: self.next_stan(), 37: rrn,
                                      60: self.field60(fld.TYPE_MANAGEMENT, fld.NET_SETTLEMENT),
                                      61: fld.Field61(self.batch, stan, date).encode()})

    def end_of_upload(self, count: int) -> Parsed:
        return self.exchange("0320", {11: self.next_stan(), 48: fld.upload_count(count),
                                      60: self.field60(fld.TYPE_MANAGEMENT, fld.NET_END_OF_UPLOAD)})


class FrontEndThread:
    """host.bank.frontend.BankFrontEnd on an event loop of its own thread (the
    tests' stand-in for `kiosk host serve`'s loop); `port` once started."""

    def __init__(self, front_end: Any) -> None:
        self.front_end = front_end
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bank-frontend", daemon=True)

    @property
    def port(self) -> int:
        return int(self.front_end.port)

    def start(self) -> FrontEndThread:
        self._thread.start()
        started: Future[None] = asyncio.run_coroutine_threadsafe(self.front_end.start(), self.loop)
        started.result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.front_end.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def start_front_end(server: Any, settings: Any, engine: Any, clock: Any) -> None:
    """Beside a test host (HostServer), its ISO 8583 front-end on a free port,
    as `kiosk host serve` runs it: `server.bank` (stop() it at teardown) and
    `server.bank_port`, where the kiosk's [bank] points."""
    import dataclasses

    from host.bank.frontend import BankFrontEnd

    assert settings.bank_link is not None     # the demo host's front-end, on a free port here
    settings = dataclasses.replace(settings, bank_link=dataclasses.replace(settings.bank_link, port=0))
    server.bank = FrontEndThread(BankFrontEnd(settings, settings.bank_link, engine, clock)).start()
    server.bank_port = server.bank.port


def tls_front_end(server: Any, cert: Any, key: Any, client_ca: Any = "") -> FrontEndThread:
    """Beside a test host's plain front-end (start_front_end), a second one on
    the same database, TLS only ([bank] link_tls_cert/link_tls_key, and
    link_client_ca when given), on a free port; stop() it at teardown."""
    import dataclasses

    from host.bank.frontend import BankFrontEnd

    settings = server.settings
    link = dataclasses.replace(settings.bank_link, port=0, tls=(str(cert), str(key)),
                               client_ca=str(client_ca) if client_ca else "")
    return FrontEndThread(BankFrontEnd(settings, link, server.engine, server.clock)).start()


def with_terminals(settings: Any, *kiosk_ids: str) -> Any:
    """`settings` whose [bank] names a front-end (on a free port) with the
    terminals KIOSK001, KIOSK002, … of `kiosk_ids`: the test configs of host_env name none."""
    import dataclasses

    from host.config.bank import BankLink

    terminals = tuple((f"KIOSK{n:03d}", kiosk) for n, kiosk in enumerate(kiosk_ids, 1))
    return dataclasses.replace(settings, bank_link=BankLink(port=0, terminals=terminals))


def pay_bill(terminal: Terminal, house_no: str, bill: dict[str, Any], card: Any, *, pin: str | None = None,
             fen: int | None = None) -> dict[int, Any]:
    """A bill payment over the link as a kiosk sends it: a purchase of the bill's
    total due (or `fen`) naming the household and its unpaid months in 63; the
    reply's fields (39 the code, 11 the STAN, 37 the RRN)."""
    from host.billing import unpaid_periods

    reply = terminal.purchase(card.track2, card.pin if pin is None else pin, card.pan,
                              bill["total_due_fen"] if fen is None else fen,
                              bill_ref=f"H={house_no};P={','.join(unpaid_periods(bill))}")
    return dict(reply.message.fields)


def copy_of(reply: dict[int, Any], txn_id: str, house_no: str, fen: int) -> dict[str, Any]:
    """The kiosk's backup copy of an approved link payment (it books the property side)."""
    return {"txn_id": txn_id, "house_no": house_no, "amount_fen": fen, "result": "approved",
            "reference": str(reply[37]).strip(), "auth_code": str(reply[38]).strip()}
