"""Every response code of BANK-8583.md §5 the reference front-end can give,
each caused the way an unlucky resident or an attacker would, and what the
front-end does with frames that are not messages (host.bank.frontend). Money
adds up to the fen after each; the database never holds a PAN, a track or a
PIN in clear."""
from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from common.bank8583 import fields as fld
from common.bank8583.codec import Message
from common.bank8583.keys import ecb_decrypt, ecb_encrypt
from common.bank8583.wire import build
from common.crypto import CryptoError, pin_block_format0, pin_from_block_format0
from tests.support.bank8583 import HEADER, REQUEST_TPDU, Terminal, bare_track
from tests.support.bank8583_env import CARDS, MAX_FRAME, READ_TIMEOUT_S, UNKNOWN, Link, link_fixture
from tests.support.databases import BACKENDS, SQLITE


@pytest.fixture(scope="module", params=BACKENDS)
def link(request: pytest.FixtureRequest, databases: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Link]:
    yield from link_fixture(request, databases, tmp_path_factory)   # type: ignore[arg-type]


@pytest.fixture
def money(link: Link) -> Iterator[None]:
    """Σ balances + Σ approved purchases of the journal: the same after the test."""
    before = sum(link.money())
    yield
    assert sum(link.money()) == before


def code(reply: object) -> str:
    return str(reply.message.text(39))   # type: ignore[attr-defined]


@pytest.mark.usefixtures("money")
def test_wrong_pin_three_times_locks_the_pin(link: Link) -> None:
    card, terminal = CARDS["locks"], link.terminal()
    first = terminal.purchase(card.track2, "000000", card.pan, 100)
    second = terminal.purchase(card.track2, "000001", card.pan, 100)
    assert (code(first), first.message.text(63)) == ("55", "T=2")
    first.verify_mac(terminal.keys.mak)                          # a decline still MACed: the keys agree
    assert (code(second), second.message.text(63)) == ("55", "T=1")
    assert 38 not in second.message.fields                      # a declined 0210 carries no 38
    assert code(terminal.purchase(card.track2, "000002", card.pan, 100)) == "75"
    assert code(terminal.purchase(card.track2, card.pin, card.pan, 100)) == "75"    # the right one, too late
    assert link.balance("locks") == CARDS["locks"].balance.fen


@pytest.mark.usefixtures("money")
@pytest.mark.parametrize(("name", "fen", "expected"), [
    ("limit", 50001, "61"),          # over the daily limit of 500.00
    ("expired", 100, "54"),
    ("poor", 5001, "51"),            # 50.00 on the card
    ("blocked", 100, "62"),
])
def test_declines_of_the_card(link: Link, name: str, fen: int, expected: str) -> None:
    card, terminal = CARDS[name], link.terminal()
    reply = terminal.purchase(card.track2, card.pin, card.pan, fen)
    assert code(reply) == expected
    assert link.balance(name) == card.balance.fen


@pytest.mark.usefixtures("money")
def test_the_daily_limit_counts_the_days_purchases_not_reversed(link: Link) -> None:
    """(Moved from the JSON payments' tests.) 500.00 a day: 300.00 fits, 200.01
    more does not, 200.00 does; a reversed purchase no longer counts."""
    card, terminal = CARDS["limit"], link.terminal()
    first = terminal.purchase(card.track2, card.pin, card.pan, 30000)
    assert code(first) == "00"
    assert code(terminal.purchase(card.track2, card.pin, card.pan, 20001)) == "61"
    second = terminal.purchase(card.track2, card.pin, card.pan, 20000)
    assert code(second) == "00"
    assert code(terminal.purchase(card.track2, card.pin, card.pan, 1)) == "61"
    assert code(terminal.reversal(str(second.message.fields[11]), 20000, "06")) == "00"
    assert code(terminal.reversal(str(first.message.fields[11]), 30000, "06")) == "00"
    assert link.balance("limit") == card.balance.fen


@pytest.mark.usefixtures("money")
def test_a_card_the_bank_does_not_know_is_invalid(link: Link) -> None:
    assert code(link.terminal().purchase(UNKNOWN.track2, UNKNOWN.pin, UNKNOWN.pan, 100)) == "14"


@pytest.mark.usefixtures("money")
def test_a_pin_block_under_another_key_is_a_pin_error_not_a_wrong_pin(link: Link) -> None:
    card, terminal = CARDS["pin"], link.terminal()
    tries_before = link.pin_tries("pin")
    values = terminal.card_fields(card.track2, card.pin, card.pan)
    values[52] = next(block for block in (ecb_encrypt(bytes([n] * 8 + [n + 1] * 8), pin_block_format0(card.pin, card.pan))
                                          for n in range(1, 200))
                      if not _format0(ecb_decrypt(terminal.keys.pik, block), card.pan))
    reply = terminal.exchange("0200", {3: "000000", 4: "000000000100", 11: terminal.next_stan(), **values,
                                       60: terminal.field60(fld.TYPE_PURCHASE)})
    assert code(reply) == "99" and reply.header.sign_on_required
    assert link.pin_tries("pin") == tries_before               # the resident's tries are not spent


def _format0(block: bytes, pan: str) -> bool:
    try:
        pin_from_block_format0(block, pan)
    except CryptoError:
        return False
    return True


@pytest.mark.usefixtures("money")
def test_a_bad_mac_is_a0_and_asks_for_a_sign_on(link: Link) -> None:
    card, terminal = CARDS["example"], link.terminal()
    reply = terminal.exchange("0200", {3: "000000", 4: "000000000100", 11: terminal.next_stan(),
                                       **terminal.card_fields(card.track2, card.pin, card.pan),
                                       60: terminal.field60(fld.TYPE_PURCHASE)}, mak=bytes(range(16)))
    assert code(reply) == "A0" and reply.header.sign_on_required and 64 not in reply.message.fields


@pytest.mark.usefixtures("money")
def test_a_terminal_not_signed_on_gets_a0_and_an_unknown_one_97(link: Link) -> None:
    card = CARDS["example"]
    never = link.terminal(signed_on=False)
    never.keys = dataclasses.replace(link.terminal().keys)     # someone else's keys
    assert code(never.purchase(card.track2, card.pin, card.pan, 100)) == "A0"
    assert never.last_header.sign_on_required

    stranger = Terminal(link.port, terminal_id="NOBODY01")
    assert code(stranger.sign_on()) == "97" and stranger.keys is None


@pytest.mark.usefixtures("money")
def test_the_same_stan_twice_is_a_duplicate(link: Link) -> None:
    card, terminal = CARDS["busy"], link.terminal()
    assert code(terminal.purchase(card.track2, card.pin, card.pan, 100, stan="000500")) == "00"
    assert code(terminal.purchase(card.track2, card.pin, card.pan, 100, stan="000500")) == "94"


@pytest.mark.usefixtures("money")
def test_a_message_without_its_track_is_96_and_changes_nothing(link: Link) -> None:
    terminal = link.terminal()
    reply = terminal.exchange("0200", {3: "000000", 4: "000000000100", 11: terminal.next_stan(), 49: "156",
                                       52: bytes(8), 53: fld.security_control(True),
                                       60: terminal.field60(fld.TYPE_PURCHASE)})
    assert code(reply) == "96"
    reply.verify_mac(terminal.keys.mak)


def test_a_new_business_day_asks_for_a_sign_on(link: Link) -> None:
    terminal = link.terminal()
    link.clock.advance(timedelta(days=1).total_seconds())
    try:
        echo = terminal.network(fld.NET_ECHO)
        assert code(echo) == "00" and echo.header.sign_on_required      # served, and told to sign on
        terminal.sign_on()
        assert not terminal.network(fld.NET_ECHO).header.sign_on_required
    finally:
        link.clock.advance(-timedelta(days=1).total_seconds())


def _closed_without_reply(sock: socket.socket) -> bool:
    sock.settimeout(READ_TIMEOUT_S * 10)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_frame_over_the_bound_is_not_read(link: Link) -> None:
    with socket.create_connection(("127.0.0.1", link.port), timeout=5) as sock:
        sock.sendall((MAX_FRAME + 1).to_bytes(2, "big") + b"\x60" * 64)
        assert _closed_without_reply(sock)


@pytest.mark.parametrize("garbage", [
    b"\x00\x05hello",                                            # LEN too short for a header
    b"\x00\x20" + b"\xff" * 32,                                  # no TPDU
    b"GET / HTTP/1.1\r\nHost: bank\r\n\r\n",                   # a web client at the wrong port
])
def test_garbage_closes_the_connection_without_a_reply(link: Link, garbage: bytes) -> None:
    with socket.create_connection(("127.0.0.1", link.port), timeout=5) as sock:
        sock.sendall(garbage)
        assert _closed_without_reply(sock)


def test_a_slow_loris_is_cut_by_the_read_timeout(link: Link) -> None:
    terminal = link.terminal()
    frame = build(REQUEST_TPDU, HEADER, Message("0820", {11: "000001", 41: terminal.terminal_id,
                                                          42: terminal.merchant,
                                                          60: terminal.field60("00", fld.NET_ECHO)}),
                  terminal.keys.mak)
    with socket.create_connection(("127.0.0.1", link.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(frame[:10])                                 # and then nothing more
        assert _closed_without_reply(sock)
        assert READ_TIMEOUT_S * 0.8 <= time.monotonic() - started < READ_TIMEOUT_S * 10


def test_the_database_holds_no_pan_track_or_pin_in_clear(link: Link, tmp_path: Path) -> None:
    if link.backend != SQLITE:
        pytest.skip("the bytes of a SQLite file are searched; PostgreSQL's rows are the same")
    terminal = link.terminal()
    for card in CARDS.values():   # every card through the link: purchase, balance, PIN change
        terminal.purchase(card.track2, card.pin, card.pan, 1)
        terminal.balance(card.track2, card.pin, card.pan)
    link.engine.dispose()                                        # the WAL checkpointed into the file
    path = Path(link.url.removeprefix("sqlite:///"))
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for card in CARDS.values():
        track = bare_track(card.track2)
        for secret in (card.pan, card.pan[6:], track, track.replace("=", "D"), card.pin):
            assert secret.encode() not in data, secret
            assert secret.encode("utf-16-le") not in data, secret
        assert bytes.fromhex(card.pan + "0" * (len(card.pan) % 2)) not in data


def test_no_card_data_in_the_logs(link: Link, caplog: pytest.LogCaptureFixture) -> None:
    """(Moved from the JSON payments' tests.) Approved, wrong PIN, unknown card:
    the front-end logs no PAN, track or PIN."""
    import logging
    caplog.set_level(logging.DEBUG)
    card, terminal = CARDS["busy"], link.terminal()
    assert code(terminal.purchase(card.track2, "999999", card.pan, 100)) == "55"
    approved = terminal.purchase(card.track2, card.pin, card.pan, 100)     # and the try count is reset
    terminal.purchase(UNKNOWN.track2, UNKNOWN.pin, UNKNOWN.pan, 100)
    assert code(terminal.reversal(str(approved.message.fields[11]), 100, "06")) == "00"
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (card.pan, card.pin, bare_track(card.track2), UNKNOWN.pan, bare_track(UNKNOWN.track2)):
        assert secret not in text
