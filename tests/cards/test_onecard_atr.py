"""Telling a one-card from a contactless CPU card by the ATR (docs/cards.md,
docs/onecard.md "The kiosk"): a PC/SC reader reports a MIFARE Classic 1K as a
Part 3 storage card (DESIGN §5's ATR), a CPU card with its own historical
bytes; the reader port now carries the ATR, and the one-card service chooses
the application by it, through the session's private pcscd and vpcd."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from common.onecard import ATR
from kiosk.cards.mifare import is_classic_1k_atr, storage_card_name
from kiosk.devices.pcsc import PcscReader
from kiosk.devices.sim.cpu_card import VirtualCpuCard
from kiosk.devices.sim.cpu_card_data import ATR as CPU_ATR
from kiosk.devices.sim.pcscd import MEDIA_SLOTS
from kiosk.devices.sim.vpcd import VpcdSlot
from kiosk.services.onecard_card import is_onecard
from tests.support.onecard import example_card

EVENT_TIMEOUT_S = 5.0


def part3(standard: int, name: int) -> bytes:
    """A Part 3 storage card ATR with its TCK."""
    body = bytes.fromhex("8F8001804F0CA000000306") + bytes([standard]) + name.to_bytes(2, "big") + bytes(4)
    tck = 0
    for byte in body:
        tck ^= byte
    return b"\x3B" + body + bytes([tck])


def test_the_contracts_atr_is_a_mifare_classic_1k() -> None:
    assert part3(0x03, 0x0001) == ATR                              # DESIGN §5's, rebuilt from its parts
    assert storage_card_name(ATR) == (0x03, 0x0001) and is_classic_1k_atr(ATR)


@pytest.mark.parametrize("atr", [
    part3(0x03, 0x0002),                                           # MIFARE Classic 4K: not our layout
    part3(0x03, 0x0003),                                           # Ultralight
    ATR[:-1] + bytes([ATR[-1] ^ 1]),                               # a bad TCK
    ATR[:-1],                                                      # cut short
    bytes.fromhex("3B8880010000000033818100 3A".replace(" ", "")),  # a contactless CPU card (ATS bytes)
    CPU_ATR,                                                       # our CPU cards'
    b"",
])
def test_any_other_atr_is_not_a_one_card(atr: bytes) -> None:
    assert not is_classic_1k_atr(atr)


@pytest.fixture
def contactless(pcscd: Any) -> Iterator[tuple[VpcdSlot, PcscReader]]:
    index = MEDIA_SLOTS["contactless"]
    slot, reader = VpcdSlot(pcscd.ports[index]), PcscReader(pcscd.reader_names[index])
    assert reader.wait_card(present=False, timeout_s=EVENT_TIMEOUT_S), "the contactless reader is not empty"
    yield slot, reader
    slot.remove()
    assert reader.wait_card(present=False, timeout_s=EVENT_TIMEOUT_S)
    reader.close()


def _tap(slot: VpcdSlot, reader: PcscReader, card: Any) -> None:
    slot.insert(card)
    assert reader.wait_card(present=True, timeout_s=EVENT_TIMEOUT_S)


def test_through_pcscd_the_one_card_is_chosen_by_its_atr(contactless: tuple[VpcdSlot, PcscReader]) -> None:
    slot, reader = contactless
    card = example_card()
    _tap(slot, reader, card)
    transport = reader.connect()
    try:
        assert transport.atr == ATR                                # as vpcd reports the virtual card's
    finally:
        transport.close()
    assert is_onecard(reader)


def test_through_pcscd_a_cpu_card_is_not_a_one_card_and_gets_no_apdu(
        contactless: tuple[VpcdSlot, PcscReader], tmp_path: Path) -> None:
    slot, reader = contactless
    cpu = VirtualCpuCard.create(tmp_path, serial="10000000000000000001", holder="测试", pin="123456",
                                issued=date(2026, 1, 10))
    received: list[bytes] = []
    process = cpu.process

    def counting(apdu: bytes) -> bytes:
        received.append(apdu)
        return process(apdu)

    cpu.process = counting  # type: ignore[method-assign]
    _tap(slot, reader, cpu)
    transport = reader.connect()
    try:
        assert transport.atr == CPU_ATR
    finally:
        transport.close()
    assert not is_onecard(reader) and received == []              # decided by the ATR alone
    transport = reader.connect()                                   # (the count does see an APDU sent)
    try:
        assert transport.transmit(bytes.fromhex("FFCA000000"))[-2:] != b"\x90\x00" and len(received) == 1
    finally:
        transport.close()
