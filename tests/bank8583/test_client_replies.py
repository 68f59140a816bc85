"""Every reply path of the kiosk's 8583 client against the scripted peer:
approvals and each response code of BANK-8583.md §5, what each means to the
money (a decline, nothing sent, sign on again, reversal), the bank-card
services, matching, the bounded LEN and a persistent connection."""
from __future__ import annotations

import pytest

from common.bank8583.keys import ecb_encrypt
from common.clock import ManualClock
from common.crypto import pin_block_format0
from common.money import Money
from kiosk.backend_client.bank8583.client import BankLink
from kiosk.backend_client.bank8583.link import Link
from kiosk.domain.errors import (
    BANK_RESPONSE_CODES, BankDeclined, BankNoReply, BankSignOnRequired, BankUnavailable, bank_message_key,
)
from kiosk.i18n import tr
from kiosk.services.journal import Journal
from tests.support import bank_peer as peer
from tests.support.bank8583 import KEYS, PAN, PIN, TRACK2
from tests.support.bank_peer import BankPeer, cut, decline, link_settings, payment

bank_peer, bank, clock, journal, loaded_keys = peer.bank_peer, peer.bank, peer.clock, peer.journal, peer.loaded_keys

DECLINES = {"14": "unknown_card", "51": "insufficient_funds", "54": "expired_card", "55": "wrong_pin",
            "61": "daily_limit", "62": "card_blocked", "75": "pin_locked"}


def pin_block(pin: str = PIN) -> bytes:
    return ecb_encrypt(KEYS.pik, pin_block_format0(pin, PAN))


@pytest.mark.parametrize("code", sorted(DECLINES))
async def test_a_declined_purchase_is_a_reply_with_the_screens_code_and_nothing_owed(
        bank: BankLink, bank_peer: BankPeer, journal: Journal, code: str) -> None:
    await bank.sign_on()
    bank_peer.script(decline(code))   # a decline without 64, as the page allows
    reply = await bank.pay(payment())
    assert (reply["result"], reply.get("code")) == ("declined", DECLINES[code])
    assert journal.bank_reversals("armed", "due") == []
    assert journal.bank_debits(journal.bank_batch()) == []


async def test_a_wrong_pin_carries_the_tries_left_of_63(bank: BankLink, bank_peer: BankPeer) -> None:
    await bank.sign_on()
    bank_peer.script(decline("55", tries=2))
    assert (await bank.pay(payment())).get("tries_left") == 2


@pytest.mark.parametrize("code", ["96", "97"])
async def test_96_and_97_mean_nothing_charged_and_no_reversal(bank: BankLink, bank_peer: BankPeer,
                                                              journal: Journal, code: str) -> None:
    await bank.sign_on()
    bank_peer.script(decline(code))
    with pytest.raises(BankUnavailable) as raised:
        await bank.pay(payment())
    assert raised.value.message_key == f"bank.rc.{code}"
    assert journal.bank_reversals("armed", "due") == []


@pytest.mark.parametrize("code", ["99", "A0"])
async def test_99_and_a0_sign_on_again_before_the_next_request(bank: BankLink, bank_peer: BankPeer,
                                                               loaded_keys: list[tuple[bytes, bytes]],
                                                               code: str) -> None:
    await bank.sign_on()
    bank_peer.script(decline(code))
    with pytest.raises(BankSignOnRequired):
        await bank.pay(payment())
    assert bank.sign_on_due
    # the next purchase signs on first; the PIN block held is void: PIN again
    with pytest.raises(BankSignOnRequired):
        await bank.pay(payment())
    assert [m.mti for m in bank_peer.requests()] == ["0800", "0200", "0800"]
    assert len(loaded_keys) == 1   # the pad took the new PIK
    assert (await bank.pay(payment()))["result"] == "approved"


async def test_94_duplicate_is_outcome_unknown_and_reversed_with_reason_06(bank: BankLink,
                                                                           bank_peer: BankPeer) -> None:
    await bank.sign_on()
    bank_peer.script(decline("94"))
    with pytest.raises(BankNoReply) as raised:
        await bank.pay(payment())
    assert raised.value.reason == "06"
    assert await bank.reverse("T1", 120174, "") == "reversed"
    assert bank_peer.requests()[-1].fields[39] == "06"


async def test_an_approved_reply_without_its_mac_is_a_bad_mac(bank: BankLink, bank_peer: BankPeer) -> None:
    await bank.sign_on()
    bank_peer.script(lambda p, req: p.reply(req, mac=False))
    with pytest.raises(BankNoReply) as raised:
        await bank.pay(payment())
    assert raised.value.reason == "A0"


async def test_a_decline_that_carries_a_mac_must_verify(bank: BankLink, bank_peer: BankPeer) -> None:
    await bank.sign_on()
    bank_peer.script(lambda p, req: p.reply(req, "51", mac=True))
    assert (await bank.pay(payment())).get("code") == "insufficient_funds"
    bank_peer.script(lambda p, req: p.reply(req, "51", mac=True)[:-8] + b"00000000")
    with pytest.raises(BankNoReply) as raised:
        await bank.pay(payment("T2"))
    assert raised.value.reason == "A0"


def test_every_response_code_of_the_page_has_plain_words_in_both_languages() -> None:
    for code in (*BANK_RESPONSE_CODES, "xx"):
        key = bank_message_key(code)
        for lang in ("zh", "en"):
            assert tr(key, lang) != key
    assert tr("bank.rc.55.tries", "en", tries=2).endswith("2 more times.")
    assert BankDeclined("51").message_key == "bank.rc.51"


async def test_balance_inquiry(bank: BankLink, bank_peer: BankPeer) -> None:
    await bank.sign_on()
    assert await bank.balance(TRACK2, pin_block()) == Money(123456)
    sent = bank_peer.requests()[-1]
    assert (sent.mti, sent.fields[3], str(sent.fields[60])[:2]) == ("0200", "310000", "01")
    assert 4 not in sent.fields and 64 in sent.fields
    bank_peer.script(decline("55", tries=1))
    with pytest.raises(BankDeclined) as raised:
        await bank.balance(TRACK2, pin_block("000000"))
    assert (raised.value.response_code, raised.value.tries_left) == ("55", 1)


async def test_pin_change_sends_both_blocks(bank: BankLink, bank_peer: BankPeer) -> None:
    await bank.sign_on()
    await bank.change_pin(TRACK2, pin_block(), pin_block("654321"))
    sent = bank_peer.requests()[-1]
    assert (sent.mti, sent.fields[3], str(sent.fields[60])[:2]) == ("0100", "700000", "70")
    assert (sent.fields[52], sent.fields[62]) == (pin_block(), pin_block("654321"))
    bank_peer.script(decline("75"))
    with pytest.raises(BankDeclined) as raised:
        await bank.change_pin(TRACK2, pin_block(), pin_block("654321"))
    assert raised.value.message_key == "bank.rc.75"


async def test_a_reply_over_the_len_bound_is_no_reply(bank: BankLink, bank_peer: BankPeer) -> None:
    await bank.sign_on()
    bank_peer.script(lambda p, req: b"\xff\xff")   # announces 65535 bytes: not read
    with pytest.raises(BankNoReply) as raised:
        await bank.pay(payment())
    assert raised.value.reason == "98"


async def test_a_front_end_that_cannot_be_reached_means_not_sent(bank: BankLink, bank_peer: BankPeer,
                                                                 journal: Journal, clock: ManualClock) -> None:
    await bank.sign_on()
    settings = link_settings(bank_peer, port=1)   # nothing listens on port 1
    down = BankLink(settings, journal, clock)
    with pytest.raises(BankUnavailable):
        await down.echo()


async def test_a_persistent_connection_carries_many_exchanges_and_is_reopened_when_lost(
        bank_peer: BankPeer, journal: Journal, clock: ManualClock) -> None:
    bank_peer.reset()
    settings = link_settings(bank_peer, persistent=True)
    connections: list[int] = []
    link = Link(settings)
    original = link._connect

    async def counting():  # type: ignore[no-untyped-def]
        before = link._conn
        conn = await original()
        if conn is not before:
            connections.append(1)
        return conn
    link._connect = counting  # type: ignore[method-assign]
    client = BankLink(settings, journal, clock, link=link)
    await client.sign_on()
    await client.echo()
    await client.echo()
    assert len(connections) == 1
    bank_peer.script(cut)
    with pytest.raises(BankNoReply):   # an echo without reply (nothing to undo)
        await client.echo()
    await client.echo()
    assert len(connections) == 2
    await client.aclose()
