"""The reference front-end over real TCP on loopback (host.bank.frontend,
docs/bank-link.md "The reference front-end"): every message of BANK-8583.md §4
and its reply, on SQLite and PostgreSQL. The terminal is tests/support's,
built on common.bank8583 alone."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from common.bank8583 import fields as fld
from common.bank8583.codec import Message
from common.bank8583.keys import check_value
from common.bank8583.wire import build, parse
from host.schema.bank import bank_link_sessions, bank_link_settlements, bank_link_uploads
from tests.support.bank8583 import HEADER, REPLY_TPDU, REQUEST_TPDU, Terminal, read_reply
from tests.support.bank8583_env import CARDS, NOW, Link, link_fixture
from tests.support.databases import BACKENDS

EX = CARDS["example"]


@pytest.fixture(scope="module", params=BACKENDS)
def link(request: pytest.FixtureRequest, databases: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Link]:
    yield from link_fixture(request, databases, tmp_path_factory)   # type: ignore[arg-type]


def fields_of(reply: object) -> list[int]:
    return sorted(reply.message.fields)   # type: ignore[attr-defined]


def test_sign_on_issues_keys_under_the_tmk_with_check_values_and_keeps_them_only_wrapped(link: Link) -> None:
    terminal = link.terminal(signed_on=False)
    reply = terminal.sign_on()

    m = reply.message
    assert m.mti == "0810" and reply.tpdu == REPLY_TPDU and reply.header == HEADER
    assert fields_of(reply) == [11, 12, 13, 32, 37, 39, 41, 42, 60, 62]      # no 64 on a sign-on
    assert (m.text(39), m.text(11), m.text(41), m.text(12), m.text(13)) == ("00", "000001", terminal.terminal_id,
                                                                             "101530", "1205")
    assert fld.Field60.parse(m.text(60)) == fld.Field60("00", "000001", "004")
    keys = terminal.keys                                   # decode_field62 checked every check value
    assert len({keys.pik, keys.mak, keys.tdk}) == 3
    assert m.data(62)[16:20] == check_value(keys.pik)
    with link.engine.connect() as conn:
        row = conn.execute(select(bank_link_sessions).where(
            bank_link_sessions.c.terminal_id == terminal.terminal_id)).one()
    stored = " ".join(str(v) for v in row).upper()
    for key in (keys.pik, keys.mak, keys.tdk):
        assert key.hex().upper() not in stored             # wrapped, never in clear
    assert row.batch == "000001" and row.business_day == NOW.date()


def test_echo_and_sign_off(link: Link) -> None:
    terminal = link.terminal()
    echo = terminal.network(fld.NET_ECHO)
    assert echo.message.mti == "0830" and fields_of(echo) == [11, 39, 41, 42, 60, 64]
    echo.verify_mac(terminal.keys.mak)
    assert echo.message.text(39) == "00" and echo.header.processing == "0"

    bye = terminal.network(fld.NET_SIGN_OFF)
    bye.verify_mac(terminal.keys.mak)
    assert bye.message.text(39) == "00"
    after = terminal.network(fld.NET_ECHO)          # the keys are gone: sign on again
    assert after.message.text(39) == "A0" and after.header.sign_on_required and 64 not in after.message.fields


def test_purchase_approved_reply_fields_mac_and_money(link: Link) -> None:
    terminal = link.terminal()
    before, money = link.balance("example"), link.money()

    reply = terminal.purchase(EX.track2, EX.pin, EX.pan, 120174, stan="000042")

    m = reply.message
    reply.verify_mac(terminal.keys.mak)
    assert m.mti == "0210" and reply.tpdu == REPLY_TPDU
    assert fields_of(reply) == [3, 4, 11, 12, 13, 15, 25, 32, 37, 38, 39, 41, 42, 49, 60, 64]
    assert (m.text(39), m.text(3), m.text(4), m.text(11), m.text(15)) == ("00", "000000", "000000120174",
                                                                          "000042", "1205")
    assert m.text(37).startswith("261205") and len(m.text(38)) == 6
    assert link.balance("example") == before - 120174
    assert sum(link.money()) == sum(money)         # what left the account is in the journal


def test_balance_inquiry_shows_the_available_balance(link: Link) -> None:
    terminal = link.terminal()
    reply = terminal.balance(EX.track2, EX.pin, EX.pan)
    reply.verify_mac(terminal.keys.mak)
    assert fields_of(reply) == [3, 11, 12, 13, 32, 37, 39, 41, 42, 49, 54, 60, 64]
    assert reply.message.text(39) == "00"
    assert fld.parse_balance(reply.message.text(54)).fen == link.balance("example")


def test_pin_change_takes_the_new_pin_and_refuses_the_old(link: Link) -> None:
    card, terminal = CARDS["pin"], link.terminal()
    changed = terminal.pin_change(card.track2, card.pin, "700519", card.pan)
    changed.verify_mac(terminal.keys.mak)
    assert changed.message.mti == "0110" and fields_of(changed) == [3, 11, 12, 13, 37, 39, 41, 42, 60, 64]
    assert changed.message.text(39) == "00"

    assert terminal.balance(card.track2, card.pin, card.pan).message.text(39) == "55"
    assert terminal.balance(card.track2, "700519", card.pan).message.text(39) == "00"


def test_reversal_credits_once_however_often_it_is_sent(link: Link) -> None:
    card, terminal = CARDS["reverse"], link.terminal()
    before = link.balance("reverse")
    stan = f"{terminal.stan + 1:06d}"
    assert terminal.purchase(card.track2, card.pin, card.pan, 8800).message.text(39) == "00"

    first = terminal.reversal(stan, 8800)
    again = terminal.reversal(stan, 8800, reason="A0")      # resent: acknowledged, nothing more

    for reply in (first, again):
        reply.verify_mac(terminal.keys.mak)
        assert reply.message.mti == "0410" and reply.message.text(39) == "00"
        assert fields_of(reply) == [3, 4, 11, 12, 13, 37, 39, 41, 42, 60, 64]
    assert link.balance("reverse") == before


def test_a_reversal_of_an_unknown_original_is_acknowledged_and_the_late_original_refused(link: Link) -> None:
    card, terminal = CARDS["reverse"], link.terminal()
    before = link.balance("reverse")
    assert terminal.reversal("000777", 500).message.text(39) == "00"
    late = terminal.purchase(card.track2, card.pin, card.pan, 500, stan="000777")
    assert late.message.text(39) == "94"
    assert link.balance("reverse") == before


def test_settlement_balanced_closes_the_batch(link: Link) -> None:
    card, terminal = CARDS["settle"], link.terminal()
    for fen in (1000, 2345):
        assert terminal.purchase(card.track2, card.pin, card.pan, fen).message.text(39) == "00"
    stan = f"{terminal.stan + 1:06d}"
    assert terminal.purchase(card.track2, card.pin, card.pan, 99).message.text(39) == "00"
    assert terminal.reversal(stan, 99).message.text(39) == "00"       # reversed: not a debit of the batch

    reply = terminal.settle(3345, 2)

    reply.verify_mac(terminal.keys.mak)
    assert reply.message.mti == "0510" and fields_of(reply) == [11, 12, 13, 15, 37, 39, 41, 42, 48, 60, 64]
    totals = fld.Totals.parse(reply.message.text(48))
    assert totals.balanced and (totals.debit.fen, totals.debit_count) == (3345, 2)
    assert len(reply.message.text(48)) == 62
    assert terminal.sign_on().message.text(60)[2:8] == "000002"      # the next batch


def test_settlement_unbalanced_then_batch_upload(link: Link) -> None:
    card, terminal = CARDS["settle"], link.terminal()
    stan = f"{terminal.stan + 1:06d}"
    bought = terminal.purchase(card.track2, card.pin, card.pan, 4321)
    assert bought.message.text(39) == "00"

    reply = terminal.settle(9999, 3)                     # the kiosk's totals disagree

    assert fld.Totals.parse(reply.message.text(48)).code == fld.SETTLE_UNBALANCED
    up = terminal.upload(stan, 4321, bought.message.text(37))
    up.verify_mac(terminal.keys.mak)
    assert up.message.mti == "0330" and fields_of(up) == [11, 39, 41, 42, 60, 64] and up.message.text(39) == "00"
    assert terminal.upload("000900", 5678, "261205999999").message.text(39) == "00"   # one the bank lacks
    end = terminal.end_of_upload(2)
    assert end.message.text(39) == "00"
    with link.engine.connect() as conn:
        settled = conn.execute(select(bank_link_settlements).where(
            bank_link_settlements.c.terminal_id == terminal.terminal_id)).one()
        uploads = conn.execute(select(bank_link_uploads.c.stan, bank_link_uploads.c.matched).where(
            bank_link_uploads.c.settlement_id == settled.id).order_by(bank_link_uploads.c.id)).all()
    assert (settled.result, settled.bank_debit_fen, settled.kiosk_debit_fen, settled.uploaded) == (
        "unbalanced", 4321, 9999, 2)
    assert settled.closed_at is not None
    assert [tuple(u) for u in uploads] == [(stan, True), ("000900", False)]
    assert terminal.sign_on().message.text(60)[2:8] == "000002"


def test_a_kept_connection_carries_several_exchanges(link: Link) -> None:
    terminal = link.terminal()
    with socket.create_connection(("127.0.0.1", link.port), timeout=5) as sock:
        for stan in ("000101", "000102"):
            message = Message("0820", {11: stan, 41: terminal.terminal_id, 42: terminal.merchant,
                                       60: terminal.field60("00", fld.NET_ECHO)})
            sock.sendall(build(REQUEST_TPDU, HEADER, message, terminal.keys.mak))
            reply = parse(read_reply(sock))
            assert reply.message.text(11) == stan and reply.message.text(39) == "00"


def test_several_terminals_at_once_and_the_money_adds_up(link: Link) -> None:
    card = CARDS["busy"]
    terminals = [link.terminal() for _ in range(4)]
    money, before = link.money(), link.balance("busy")

    def pay(terminal: Terminal) -> list[str]:
        return [terminal.purchase(card.track2, card.pin, card.pan, 101).message.text(39) for _ in range(3)]

    with ThreadPoolExecutor(4) as pool:
        codes = [code for result in pool.map(pay, terminals) for code in result]

    assert codes == ["00"] * 12
    assert link.balance("busy") == before - 12 * 101
    assert sum(link.money()) == sum(money) and link.money()[1] == money[1] + 1212
