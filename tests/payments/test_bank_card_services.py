"""银行卡服务 headless: BankCardServices over the real BankLink against the
scripted bank peer (tests/support/bank_peer.py), with a PIN pad that makes
real format 0 blocks under the PIK the sign-on gave it. Balance inquiry, every
decline code to its plain words, a wrong PIN with tries left, PIN change (OK,
the two new entries differing: nothing sent, a wrong old PIN), and the pad
handing only PIN blocks."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.clock import ManualClock
from common.money import Money
from kiosk.backend_client.bank8583.client import BankLink
from kiosk.domain.errors import BankDeclined, BankSignOnRequired, BankUnavailable
from kiosk.i18n import tr
from kiosk.services.bank_card_services import BankCardServices, NewPinMismatch
from kiosk.services.journal import Journal
from tests.support import bank_peer as peer
from tests.support.bank8583 import KEYS, PAN, TRACK2
from tests.support.bank_card_devices import BlockPad, KeptPrinter, OneCardReader
from tests.support.bank_peer import BankPeer, decline, link_settings

bank_peer, clock, journal = peer.bank_peer, peer.clock, peer.journal

PIN, NEW_PIN, OTHER_PIN = "802413", "550917", "550918"
BALANCE_FEN = 98765432                     # ¥987,654.32: easy to find if it leaked anywhere
DECLINE_CODES = ("14", "51", "54", "55", "61", "62", "75")


@pytest.fixture
async def services(bank_peer: BankPeer, journal: Journal, clock: ManualClock) -> AsyncIterator[BankCardServices]:
    bank_peer.reset()
    bank_peer.balance_fen = BALANCE_FEN
    pad = BlockPad()
    link = BankLink(link_settings(bank_peer), journal, clock, load_pin_key=pad.load_pin_key)
    yield BankCardServices(link=link, reader=OneCardReader(), pinpad=pad, printer=KeptPrinter(),
                           estate="翠湖花园", kiosk_id="KIOSK-DEMO-01", now=clock.now)
    await link.aclose()


def pad_of(services: BankCardServices) -> BlockPad:
    assert isinstance(services.pinpad, BlockPad)
    return services.pinpad


async def entered(services: BankCardServices, *pins: str) -> list[bytes]:
    """Swipe, then one PIN block per PIN typed on the pad (the keys made ready first)."""
    pad_of(services).type(*pins)
    swipe = await services.read_card(1)
    return [await services.collect_pin(swipe, lambda key, digits: None) for _ in pins]


async def test_balance_inquiry_shows_the_balance_and_keeps_it_nowhere(
        services: BankCardServices, bank_peer: BankPeer, journal: Journal, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    (block,) = await entered(services, PIN)
    assert pad_of(services).pik == KEYS.pik            # the sign-on's PIK went into the pad first
    balance = await services.balance(await services.read_card(1), block)
    assert balance == Money(BALANCE_FEN)
    sign_on, inquiry = bank_peer.requests()
    assert sign_on.mti == "0800"
    assert (inquiry.mti, inquiry.fields[3], inquiry.fields[52]) == ("0200", "310000", block)
    assert 4 not in inquiry.fields and 2 not in inquiry.fields
    # never journaled, never logged: neither the figure nor its display
    for leak in (str(BALANCE_FEN), Money(BALANCE_FEN).yuan, Money(BALANCE_FEN).display()):
        assert leak not in caplog.text
        assert leak.encode() not in Path(journal.path).read_bytes()
    assert not any(p.suffix == ".txt" for p in tmp_path.rglob("*"))   # nothing printed unasked


async def test_the_balance_is_printed_only_when_asked_with_the_masked_card(services: BankCardServices) -> None:
    printer = services.printer
    assert isinstance(printer, KeptPrinter)
    assert printer.printed == []
    assert await services.print_balance("622202*********0017", Money(BALANCE_FEN))
    (slip,) = printer.printed
    text = "\n".join(slip.lines())
    assert "622202*********0017" in text and Money(BALANCE_FEN).yuan in text
    assert PAN not in text and "合计" not in text and "Txn" not in text


@pytest.mark.parametrize("code", DECLINE_CODES)
async def test_each_decline_code_is_told_in_plain_words(services: BankCardServices, bank_peer: BankPeer,
                                                        code: str) -> None:
    (block,) = await entered(services, PIN)
    bank_peer.script(decline(code))
    with pytest.raises(BankDeclined) as raised:
        await services.balance(await services.read_card(1), block)
    assert raised.value.message_key == f"bank.rc.{code}"
    for lang in ("zh", "en"):
        assert tr(raised.value.message_key, lang) != raised.value.message_key


@pytest.mark.parametrize(("code", "error", "key"), [("96", BankUnavailable, "bank.rc.96"),
                                                     ("97", BankUnavailable, "bank.rc.97"),
                                                     ("99", BankSignOnRequired, "bank.rc.99"),
                                                     ("A0", BankSignOnRequired, "bank.rc.99")])
async def test_the_bank_side_codes_say_nothing_happened(services: BankCardServices, bank_peer: BankPeer,
                                                        code: str, error: type[Exception], key: str) -> None:
    (block,) = await entered(services, PIN)
    bank_peer.script(decline(code))
    with pytest.raises(error) as raised:
        await services.balance(await services.read_card(1), block)
    assert getattr(raised.value, "message_key") == key


async def test_a_wrong_pin_says_how_many_tries_are_left(services: BankCardServices, bank_peer: BankPeer) -> None:
    (block,) = await entered(services, OTHER_PIN)
    bank_peer.script(decline("55", tries=2))
    with pytest.raises(BankDeclined) as raised:
        await services.balance(await services.read_card(1), block)
    assert (raised.value.response_code, raised.value.tries_left) == ("55", 2)
    assert tr("bank.rc.55.tries", "zh", tries=raised.value.tries_left).endswith("2 次。")


async def test_pin_change_sends_the_old_block_and_the_new_one(services: BankCardServices,
                                                              bank_peer: BankPeer) -> None:
    old, new, again = await entered(services, PIN, NEW_PIN, NEW_PIN)
    assert new == again and old != new
    await services.change_pin(await services.read_card(1), old, new, again)
    change = bank_peer.requests()[-1]
    assert (change.mti, change.fields[3], change.fields[52], change.fields[62]) == ("0100", "700000", old, new)


async def test_two_different_new_pins_send_nothing(services: BankCardServices, bank_peer: BankPeer) -> None:
    old, new, again = await entered(services, PIN, NEW_PIN, OTHER_PIN)
    sent_before = len(bank_peer.received)
    with pytest.raises(NewPinMismatch) as raised:
        await services.change_pin(await services.read_card(1), old, new, again)
    assert len(bank_peer.received) == sent_before
    assert [m.mti for m in bank_peer.requests()] == ["0800"]     # the sign-on only
    assert tr(raised.value.message_key, "en") != raised.value.message_key


async def test_a_wrong_old_pin_changes_nothing_and_says_the_tries_left(services: BankCardServices,
                                                                        bank_peer: BankPeer) -> None:
    old, new, again = await entered(services, OTHER_PIN, NEW_PIN, NEW_PIN)
    bank_peer.script(decline("55", tries=1))
    with pytest.raises(BankDeclined) as raised:
        await services.change_pin(await services.read_card(1), old, new, again)
    assert (raised.value.message_key, raised.value.tries_left) == ("bank.rc.55", 1)


async def test_the_pad_only_ever_hands_pin_blocks(services: BankCardServices, bank_peer: BankPeer) -> None:
    old, new, again = await entered(services, PIN, NEW_PIN, NEW_PIN)
    swipe = await services.read_card(1)
    await services.change_pin(swipe, old, new, again)
    (block,) = await entered(services, NEW_PIN)
    await services.balance(swipe, block)
    handed = pad_of(services).handed
    assert len(handed) == 4 and all(isinstance(b, bytes) and len(b) == 8 for b in handed)
    wire = b"".join(bank_peer.received)
    for pin in (PIN, NEW_PIN):           # no clear PIN on the wire, as text or packed
        assert pin.encode() not in wire and bytes.fromhex(pin) not in wire
    with pytest.raises(ValueError):      # anything but a block is refused before the link
        await services.balance(swipe, NEW_PIN.encode())
    assert TRACK2.encode() not in wire
