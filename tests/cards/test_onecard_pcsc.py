"""The one-card end to end through libpcsclite: the virtual MIFARE Classic 1K in
the contactless vpcd slot of the session's private pcscd (tests/conftest.py),
our pyscard adapter, the M1 driver and the purse. The example debit's 25 APDUs
and their answers must be the contract's, byte for byte; a card pulled in the
middle of the debit recovers at its next presentation."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from common.onecard import TxnType
from common.onecard_keys import IssuerKeyProvider
from kiosk.cards.mifare import MifareClassic
from kiosk.cards.mifare_purse import OneCardPurse, Outcome
from kiosk.devices.pcsc import PcscReader
from kiosk.devices.sim.m1_card import VirtualM1Card
from kiosk.devices.sim.pcscd import MEDIA_SLOTS
from kiosk.devices.sim.vpcd import VpcdSlot
from kiosk.domain.errors import CardTorn
from tests.support.onecard import DEBIT_TRANSCRIPT, TERMINAL, WHEN, Recording, example_card

EVENT_TIMEOUT_S = 5.0


@pytest.fixture
def contactless(pcscd: Any) -> Iterator[tuple[VpcdSlot, PcscReader]]:
    index = MEDIA_SLOTS["contactless"]
    slot, reader = VpcdSlot(pcscd.ports[index]), PcscReader(pcscd.reader_names[index])
    assert reader.wait_card(present=False, timeout_s=EVENT_TIMEOUT_S), "the contactless reader is not empty"
    yield slot, reader
    slot.remove()
    assert reader.wait_card(present=False, timeout_s=EVENT_TIMEOUT_S)   # the next test starts empty
    reader.close()


def tap(slot: VpcdSlot, reader: PcscReader, card: VirtualM1Card) -> Recording:
    slot.insert(card)
    assert reader.wait_card(present=True, timeout_s=EVENT_TIMEOUT_S)
    return Recording(reader.connect())


def test_the_example_debit_through_pcscd_is_the_contracts_transcript(
        contactless: tuple[VpcdSlot, PcscReader]) -> None:
    slot, reader = contactless
    card = example_card()
    transport = tap(slot, reader, card)
    purse = OneCardPurse(MifareClassic(transport), IssuerKeyProvider())
    result = purse.debit(purse.present(TERMINAL, WHEN), 5000, TxnType.BILL_PAYMENT, TERMINAL, WHEN)
    assert transport.log == DEBIT_TRANSCRIPT
    assert (result.outcome, result.balance_after) == (Outcome.APPLIED, 7345)


def test_pulled_during_the_decrement_then_recovered_at_the_next_tap(
        contactless: tuple[VpcdSlot, PcscReader]) -> None:
    slot, reader = contactless
    card = example_card()
    purse = OneCardPurse(MifareClassic(tap(slot, reader, card)), IssuerKeyProvider())
    presented = purse.present(TERMINAL, WHEN)
    slot.tear_after(6, applied=True)          # steps 3 (4 APDUs), then 2 of step 4: the decrement applies
    with pytest.raises(CardTorn):
        purse.debit(presented, 5000, TxnType.BILL_PAYMENT, TERMINAL, WHEN)
    assert slot.wait_removed(EVENT_TIMEOUT_S)
    assert reader.wait_card(present=False, timeout_s=EVENT_TIMEOUT_S)
    again = OneCardPurse(MifareClassic(tap(slot, reader, card)), IssuerKeyProvider())
    recovered = again.present(TERMINAL, WHEN)
    assert recovered.recovery is not None
    assert (recovered.recovery.outcome, recovered.balance) == (Outcome.RECOVERED_APPLIED, 7345)
