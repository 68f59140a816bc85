"""The kiosk's 8583 client reproduces BANK-8583-examples.md byte for byte: the
frames are the ones it put on the socket (captured by the scripted peer), with
the examples' STAN, time and keys injected."""
from __future__ import annotations

import pytest

from common.crypto import unwrap_key
from common.money import Money
from kiosk.backend_client.bank8583.client import BankLink
from kiosk.domain.errors import BankNoReply
from kiosk.services.journal import Journal
from tests.support import bank_peer as peer
from tests.support.bank8583 import KEYS, TMK
from tests.support.bank_peer import BankPeer, payment, set_stan, silent

# the peer's fixtures, used by name (a conftest here is the wire tests')
bank_peer, bank, clock, journal, loaded_keys = peer.bank_peer, peer.bank, peer.clock, peer.journal, peer.loaded_keys

# (a) the 0800, field by field
SIGN_ON_0800 = bytes.fromhex(
    "003B" "6000030000" "603100000000" "0800" "0020000000C00012"
    "000001"                                   # 11
    "4B494F534B303031"                         # 41 KIOSK001
    "383938343430333530313130303031"           # 42 898440350110001
    "001100000001004"  "0"                     # 60 LLL 0011: 00 000001 004, pad nibble
    "00023031")                                # 63 LLL 0002: "01"
# (d) the 0200
PURCHASE_0200 = bytes.fromhex(
    "0091" "6000030000" "603100000000" "0200" "302004C020C09813"
    "000000" "000000120174" "000042" "0210" "00" "12"          # 3 4 11 22 25 26
    "376222020000000000017D8A69033077F9D3DF50"                 # 35 encrypted under the TDK
    "4B494F534B303031" "383938343430333530313130303031" "313536"  # 41 42 49
    "19A0CBA88AC3FCF9" "2610000000000000"                      # 52 PIN block, 53
    "00112200000100" "00"                                      # 60: 22 000001 000
    "0028483D332D322D313230323B503D323032362D31302C323032362D3131"  # 63 bill reference
    "4245314437413141")                                        # 64 "BE1D7A1A"
# (f) the 0400, reason 98
REVERSAL_0400 = bytes.fromhex(
    "005A" "6000030000" "603100000000" "0400" "3020048002C08019"
    "000000" "000000120174" "000042" "0210" "00" "3938"        # 3 4 11 22 25 39 "98"
    "4B494F534B303031" "383938343430333530313130303031" "313536"  # 41 42 49
    "0011220000010000"                                         # 60
    "00160000010000421205"                                     # 61: batch 000001, STAN 000042, 1205
    "3346343544383841")                                        # 64 "3F45D88A"
# (g) the 0500 of the one purchase
SETTLEMENT_0500 = bytes.fromhex(
    "0067" "6000030000" "603100000000" "0500" "0020000000C18013"
    "000043" "4B494F534B303031" "383938343430333530313130303031"
    "0062" "000000120174" "001" "000000000000" "000" "0"       # 48: debit x 1, no credit, code 0,
    "0000000000000000000000000000000"                          # ... then 31 zeros (foreign cards)
    "313536" "0011000000012010" "00023031"                     # 49 60 (00 000001 201) 63
    "4233434332393637")                                        # 64 "B3CC2967"


async def test_sign_on_sends_the_examples_0800_and_takes_the_keys_of_its_0810(bank: BankLink,
                                                                              bank_peer: BankPeer) -> None:
    keys = await bank.sign_on()
    assert bank_peer.received == [SIGN_ON_0800]
    # the PIK for the pad: E(PIK) under the TMK and the first 3 bytes of its check value
    assert keys.pin_key_wrapped == bytes.fromhex("9B3A7B883A100F73B4ABA2BB791C50E7")
    assert keys.pin_kcv == bytes.fromhex("D2B91C")
    assert keys.mac_key == bytes.fromhex("33333333333333334444444444444444")
    # what the PIN pad's key loading does with them (kiosk/devices/sim/pinpad.py _load_key)
    assert unwrap_key(TMK, keys.pin_key_wrapped, keys.pin_kcv) == KEYS.pik


async def test_a_purchase_then_its_settlement_are_the_examples_frames(bank: BankLink, bank_peer: BankPeer,
                                                                      journal: Journal) -> None:
    await bank.sign_on()
    set_stan(journal, 41)
    reply = await bank.pay(payment())
    assert bank_peer.received[1] == PURCHASE_0200
    assert reply["result"] == "approved"
    assert (reply.get("reference"), reply.get("auth_code"), reply.get("business_day")) == \
        ("261205000042", "123456", "2026-12-05")
    result = await bank.settle()
    assert bank_peer.received[2] == SETTLEMENT_0500
    assert result.balanced and result.totals.debit == Money(120174) and result.uploaded == 0
    assert journal.bank_batch() == "000002"   # a balanced 0510 closes the batch


async def test_a_purchase_without_reply_is_reversed_with_the_examples_0400(bank: BankLink, bank_peer: BankPeer,
                                                                          journal: Journal) -> None:
    await bank.sign_on()
    set_stan(journal, 41)
    bank_peer.script(silent)
    with pytest.raises(BankNoReply) as raised:
        await bank.pay(payment())
    assert raised.value.reason == "98"
    assert await bank.reverse("T1", 120174, "timeout") == "reversed"
    assert bank_peer.received[2] == REVERSAL_0400
    assert await bank.reverse("T1", 120174, "timeout") == "already_reversed"
    assert len(bank_peer.received) == 3
