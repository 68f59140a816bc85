"""CARDS-examples (d) through the real PC/SC path: the kiosk's meter terminal
over pyscard, the session's private pcscd and vpcd, to the virtual meter user
card -- the APDU transcript byte for byte -- and a tear during the write
through the same path, then the rewrite the meter applies once."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from common.clock import ManualClock
from common.meter_card import Utility
from kiosk.cards.meter import MeterCard
from kiosk.devices.pcsc import PcscReader, PcscTransport
from kiosk.devices.sim.meter import Outcome, SimulatedMeter
from kiosk.devices.sim.meter_card import VirtualMeterCard
from kiosk.devices.sim.pcscd import PrivatePcscd
from kiosk.devices.sim.vpcd import VpcdSlot
from kiosk.domain.errors import MeterCardTorn
from tests.support.meters import EF01_8, METER, HostSigner, fixed_challenges, seeded_card

EVENT_TIMEOUT_S = 5.0

# CARDS-examples.md (d): command -> response, in order
TRANSCRIPT_D = [
    ("00A404000C4553544154452E4D45544552", "9000"),
    ("00B0810014", "310100012345010007004E200001C138B0FCBA549000"),
    ("00B0820018", "00000DC00001DA880007022612051015302B0EA56C0000009000"),
    ("0084000004", "112233449000"),
    ("04D68100183101000123450100080027100001E84867D4B42E447EC0ED", "9000"),
    ("00B0810014", "3101000123450100080027100001E84867D4B42E9000"),
    ("04D68100183101000123450100080027100001E84867D4B42E447EC0ED", "6984"),
    ("0084000004", "556677889000"),
    ("04D68100183101000123450100080027100001E84867D4B42E447EC012", "9302"),
]


class Recording:
    """The PC/SC transport, noting every command and response as hex."""

    def __init__(self, transport: PcscTransport) -> None:
        self.transport = transport
        self.log: list[tuple[str, str]] = []

    def transmit(self, apdu: bytes) -> bytes:
        answer = self.transport.transmit(apdu)
        self.log.append((apdu.hex().upper(), answer.hex().upper()))
        return answer


@pytest.fixture
def contact(pcscd: PrivatePcscd) -> Iterator[tuple[VpcdSlot, PcscReader]]:
    reader = PcscReader(pcscd.reader_names[0])
    assert reader.wait_card(present=False, timeout_s=EVENT_TIMEOUT_S), "the contact reader is not empty"
    slot = VpcdSlot(pcscd.ports[0])
    yield slot, reader
    slot.remove()
    assert reader.wait_card(present=False, timeout_s=EVENT_TIMEOUT_S)   # the next test starts empty
    reader.close()


def connect(slot: VpcdSlot, reader: PcscReader, card: VirtualMeterCard) -> PcscTransport:
    slot.insert(card)
    assert reader.wait_card(present=True, timeout_s=EVENT_TIMEOUT_S)
    return reader.connect()


def test_d_the_secure_write_transcript_through_pcscd(contact: tuple[VpcdSlot, PcscReader]) -> None:
    slot, reader = contact
    card = seeded_card()
    fixed_challenges(card, "11223344", "55667788")
    with connect(slot, reader, card) as transport:
        recording = Recording(transport)
        kiosk = MeterCard(recording)
        kiosk.select()
        kiosk.read_purchase()
        kiosk.read_return()
        kiosk.write_purchase(EF01_8.encode(), HostSigner())
        write = bytes.fromhex(TRANSCRIPT_D[4][0])
        recording.transmit(write)                                        # 8: the challenge is used up
        recording.transmit(bytes.fromhex("0084000004"))                  # 9
        recording.transmit(write[:-1] + b"\x12")                         # 10: last MAC byte flipped
    assert recording.log == TRANSCRIPT_D
    assert card.ef01() == EF01_8.encode()


def test_a_tear_during_the_write_through_pcscd_then_the_rewrite(contact: tuple[VpcdSlot, PcscReader]) -> None:
    slot, reader = contact
    card = seeded_card()
    meter = SimulatedMeter.create(METER, Utility.ELECTRICITY, maximum=200000, low_credit=5000,
                                  clock=ManualClock(datetime(2026, 12, 5, 18, 0)), remaining=3520,
                                  cumulative=121480, last_count=7)
    with connect(slot, reader, card) as transport:
        kiosk = MeterCard(transport)
        kiosk.select()
        slot.tear_after(1)                    # the challenge answers; the write applies, its answer is lost
        with pytest.raises(MeterCardTorn):
            kiosk.write_purchase(EF01_8.encode(), HostSigner())
    assert reader.wait_card(present=False, timeout_s=EVENT_TIMEOUT_S)
    with connect(slot, reader, card) as transport:
        kiosk = MeterCard(transport)
        kiosk.select()
        assert kiosk.read_purchase() == EF01_8           # it was written; writing again is still safe
        kiosk.write_purchase(EF01_8.encode(), HostSigner())
    slot.remove()                                        # the resident carries the card to the meter
    assert meter.take(card).outcome is Outcome.APPLIED
    assert meter.take(card).outcome is Outcome.ALREADY_APPLIED
    assert meter.state.remaining == 3520 + EF01_8.quantity
