"""The pyscard adapter against virtual cards behind a real (private) pcscd with
vsmartcard's vpcd: card events, APDUs, tears and a stopped pcscd, end to end
through libpcsclite. Raw APDU bytes only; the terminal application has its own
tests."""
from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from smartcard.Exceptions import SmartcardException

from common.epurse_issuer import DEMO_ISSUER_KEYS, load_mac2, load_tac, online_session_key
from common.epurse import bcd_when, TxnType, Wallet
from kiosk.devices.pcsc import CardEvent, CardWatcher, PcscReader, PcscTransport
from kiosk.devices.sim.cpu_card import VirtualCpuCard
from kiosk.devices.sim.pcscd import PrivatePcscd
from common.demo_cards import load_test_cards
from kiosk.devices.sim.vpcd import VpcdSlot
from kiosk.domain.errors import CardRemoved, ReaderFault

ZHANG = load_test_cards().ic_card("00002601000000000001")
TERM = bytes.fromhex("000000000042")
WHEN = bcd_when(datetime(2026, 11, 21, 10, 30, 5))
ISSUED = date(2026, 11, 2)
EVENT_TIMEOUT_S = 5.0


@pytest.fixture
def card(tmp_path: Path) -> VirtualCpuCard:
    return VirtualCpuCard.personalise(ZHANG, tmp_path, issued=ISSUED)


@pytest.fixture
def slots(pcscd: PrivatePcscd) -> Iterator[tuple[VpcdSlot, VpcdSlot]]:
    for name in pcscd.reader_names:     # an earlier test's card may be out but not yet seen gone (400 ms poll)
        with PcscReader(name) as reader:
            assert reader.wait_card(present=False, timeout_s=EVENT_TIMEOUT_S), f"{name} is not empty at the start"
    pair = (VpcdSlot(pcscd.ports[0]), VpcdSlot(pcscd.ports[1]))
    yield pair
    for slot, name in zip(pair, pcscd.reader_names):
        slot.remove()
        with PcscReader(name) as reader:     # the next test starts with readers pcscd sees empty
            assert reader.wait_card(present=False, timeout_s=EVENT_TIMEOUT_S)


@pytest.fixture
def events(pcscd: PrivatePcscd) -> Iterator[queue.Queue[CardEvent]]:
    q: queue.Queue[CardEvent] = queue.Queue()
    watcher = CardWatcher(pcscd.reader_names, q.put)
    yield q
    watcher.stop()


@pytest.fixture
def contact(pcscd: PrivatePcscd) -> Iterator[PcscReader]:
    reader = PcscReader(pcscd.reader_names[0])
    yield reader
    reader.close()


def next_event(q: queue.Queue[CardEvent]) -> CardEvent:
    return q.get(timeout=EVENT_TIMEOUT_S)


def connect_when_present(reader: PcscReader) -> PcscTransport:
    assert reader.wait_card(present=True, timeout_s=EVENT_TIMEOUT_S)
    return reader.connect()


def sw(response: bytes) -> str:
    return response[-2:].hex().upper()


def test_insert_event_apdus_and_remove_event(pcscd: PrivatePcscd, slots: tuple[VpcdSlot, VpcdSlot],
                                             events: queue.Queue[CardEvent], contact: PcscReader,
                                             card: VirtualCpuCard) -> None:
    assert not contact.card_present()
    started = time.perf_counter()
    slots[0].insert(card)
    assert next_event(events) == CardEvent("Virtual PCD 00 00", True)
    print(f"\ninsertion -> CardEvent: {(time.perf_counter() - started) * 1000:.0f} ms")
    assert contact.card_present()
    with contact.connect() as transport:
        assert transport.protocol == "T=1"
        assert transport.transmit(bytes.fromhex("00A40000023F01")).startswith(b"\x6F\x14\x84\x0D")
        assert transport.transmit(bytes.fromhex("805C000204")) == (8550).to_bytes(4, "big") + b"\x90\x00"
        assert sw(transport.transmit(bytes.fromhex("0020000003999999"))) == "63C2"
    assert card.pin_tries_left == 2
    slots[0].remove()
    assert next_event(events) == CardEvent("Virtual PCD 00 00", False)
    assert not contact.card_present()


def test_the_second_slot_is_the_second_reader(pcscd: PrivatePcscd, slots: tuple[VpcdSlot, VpcdSlot],
                                              events: queue.Queue[CardEvent], card: VirtualCpuCard) -> None:
    slots[1].insert(card)
    assert next_event(events) == CardEvent("Virtual PCD 00 01", True)
    with PcscReader(pcscd.reader_names[0]) as contact, PcscReader(pcscd.reader_names[1]) as contactless:
        assert not contact.card_present()
        assert contactless.card_present()


def test_a_card_already_present_is_reported_at_start(pcscd: PrivatePcscd, slots: tuple[VpcdSlot, VpcdSlot],
                                                     contact: PcscReader, card: VirtualCpuCard) -> None:
    slots[0].insert(card)
    assert contact.wait_card(present=True, timeout_s=EVENT_TIMEOUT_S)
    q: queue.Queue[CardEvent] = queue.Queue()
    watcher = CardWatcher(pcscd.reader_names, q.put)
    try:
        assert next_event(q) == CardEvent("Virtual PCD 00 00", True)
    finally:
        started = time.perf_counter()
        watcher.stop()
        assert time.perf_counter() - started < 1.0     # SCardCancel, not a timeout


def test_apdu_latency(slots: tuple[VpcdSlot, VpcdSlot], contact: PcscReader, card: VirtualCpuCard) -> None:
    slots[0].insert(card)
    with connect_when_present(contact) as transport:
        n = 300
        started = time.perf_counter()
        for _ in range(n):
            transport.transmit(bytes.fromhex("805C000204"))
        mean_ms = (time.perf_counter() - started) * 1000 / n
    print(f"\nAPDU round trip through pyscard/pcscd/vpcd: {mean_ms:.2f} ms")
    assert mean_ms < 10, "delayed ACKs are back (TCP_NODELAY / TCP_QUICKACK lost?)"


def ep_load_init(transport: PcscTransport, amount: int) -> tuple[int, bytes]:
    """INITIALIZE FOR LOAD on the purse; returns (counter, the right MAC2)."""
    answer = transport.transmit(bytes([0x80, 0x50, 0x00, 0x02, 0x0B, 0x01]) + amount.to_bytes(4, "big")
                                + TERM + b"\x10")
    assert sw(answer) == "9000"
    counter, random = int.from_bytes(answer[4:6], "big"), answer[8:12]
    keys = DEMO_ISSUER_KEYS.for_card(bytes.fromhex(ZHANG.serial))
    sk = online_session_key(keys.dlk, random, counter)
    return counter, load_mac2(sk, amount, TxnType.EP_LOAD, TERM, WHEN)


def credit(mac2: bytes) -> bytes:
    return b"\x80\x52\x00\x00\x0B" + WHEN + mac2 + b"\x04"


def test_torn_after_the_write_is_card_removed_and_the_proof_shows_it(
        slots: tuple[VpcdSlot, VpcdSlot], events: queue.Queue[CardEvent], contact: PcscReader,
        card: VirtualCpuCard) -> None:
    slots[0].insert(card)
    assert next_event(events).present
    with connect_when_present(contact) as transport:
        counter, mac2 = ep_load_init(transport, 1000)
        slots[0].tear_after(0)                 # the credit is applied, its answer never leaves
        with pytest.raises(CardRemoved):
            transport.transmit(credit(mac2))
    assert next_event(events) == CardEvent("Virtual PCD 00 00", False)
    assert card.balance(Wallet.EP) == 9550
    slots[0].insert(card)                      # the same card again: did it apply it?
    assert next_event(events).present
    with connect_when_present(contact) as transport:
        proof = transport.transmit(bytes.fromhex(f"805A00020200{counter:02X}08"))
    tac = load_tac(card.keys.dtk, 9550, counter, 1000, TxnType.EP_LOAD, TERM, WHEN)
    assert proof == mac2 + tac + b"\x90\x00"


def test_torn_before_the_write_is_card_removed_and_nothing_happened(
        slots: tuple[VpcdSlot, VpcdSlot], contact: PcscReader, card: VirtualCpuCard) -> None:
    slots[0].insert(card)
    with connect_when_present(contact) as transport:
        counter, mac2 = ep_load_init(transport, 1000)
        slots[0].tear_after(0, applied=False)
        with pytest.raises(CardRemoved):
            transport.transmit(credit(mac2))
    assert card.balance(Wallet.EP) == 8550
    assert contact.wait_card(present=False, timeout_s=EVENT_TIMEOUT_S)
    slots[0].insert(card)
    with connect_when_present(contact) as transport:
        assert sw(transport.transmit(bytes.fromhex(f"805A00020200{counter:02X}08"))) == "9406"
        assert sw(transport.transmit(credit(mac2))) == "6985"    # the initialize died with the session


def test_connect_to_an_empty_reader_is_card_removed(slots: tuple[VpcdSlot, VpcdSlot], contact: PcscReader) -> None:
    with pytest.raises(CardRemoved) as raised:
        contact.connect()
    assert isinstance(raised.value.__cause__, SmartcardException)


def test_an_unknown_reader_is_a_reader_fault(pcscd: PrivatePcscd) -> None:
    with PcscReader("No Such Reader 00 00") as reader:
        with pytest.raises(ReaderFault):
            reader.card_present()
        with pytest.raises(ReaderFault):
            reader.connect()


def test_pcscd_stopped_is_a_reader_fault_and_all_recovers_when_it_is_back(
        pcscd: PrivatePcscd, slots: tuple[VpcdSlot, VpcdSlot], contact: PcscReader,
        card: VirtualCpuCard) -> None:
    events: queue.Queue[CardEvent] = queue.Queue()
    faults: queue.Queue[ReaderFault] = queue.Queue()
    watcher = CardWatcher(pcscd.reader_names, events.put, on_fault=faults.put, retry_s=0.2)
    try:
        slots[0].insert(card)
        assert next_event(events).present
        transport = connect_when_present(contact)
        pcscd.stop()
        try:
            with pytest.raises(ReaderFault) as raised:
                transport.transmit(bytes.fromhex("805C000204"))
            assert isinstance(raised.value.__cause__, SmartcardException)
            with pytest.raises(ReaderFault):
                contact.card_present()
            assert next_event(events) == CardEvent("Virtual PCD 00 00", False)
            assert isinstance(faults.get(timeout=EVENT_TIMEOUT_S), ReaderFault)
            assert slots[0].wait_removed(EVENT_TIMEOUT_S)     # vpcd's end of the socket closed
        finally:
            transport.close()
            pcscd.start()                                      # same folder and ports: same socket name
        assert not contact.card_present()                      # a fresh context, no error
        slots[0].insert(card)
        assert next_event(events) == CardEvent("Virtual PCD 00 00", True)
    finally:
        watcher.stop()
