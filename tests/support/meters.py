"""The prepaid meter card's tests' shared pieces: CARDS-examples.md's meter and
images, a direct transport to a virtual meter card, the vending host's part
(the write signer) and a card seeded through its own APDUs."""
from __future__ import annotations

from datetime import datetime

from common.meter_card import MeterReturn, MeterStatus, Purchase, Utility
from common.meter_keys import DEMO_METER_MASTERS, sign_purchase, sign_return, write_mac
from kiosk.devices.sim.cpu_card_data import CardPulled
from kiosk.devices.sim.meter_card import VirtualMeterCard
from kiosk.domain.errors import CardRemoved

METER = "310100012345"
KEYS = DEMO_METER_MASTERS.for_meter(METER)
# CARDS-examples.md: (d)'s card before, (b) the purchase sold, (c) the meter's return
EF01_7 = sign_purchase(KEYS.pk, Purchase(METER, Utility.ELECTRICITY, count=7, quantity=20000, total=115000))
EF01_8 = sign_purchase(KEYS.pk, Purchase(METER, Utility.ELECTRICITY, count=8, quantity=10000, total=125000))
EF02_C = sign_return(KEYS.rk, MeterReturn(remaining=3520, cumulative=121480, last_count=7,
                                          status=MeterStatus.LOW_CREDIT, time=datetime(2026, 12, 5, 10, 15, 30)))


class Direct:
    """The card's APDU handler as the kiosk's transport; a pulled card is
    CardRemoved, as the PC/SC transport reports it."""

    def __init__(self, card: VirtualMeterCard) -> None:
        self.card = card
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(bytes(apdu))
        try:
            return self.card.process(apdu)
        except CardPulled as exc:
            raise CardRemoved(str(exc)) from exc


class HostSigner:
    """The vending host's write MAC (it holds UK); counts what it signed."""

    def __init__(self, meter: str = METER) -> None:
        self.uk = DEMO_METER_MASTERS.for_meter(meter).uk
        self.calls: list[tuple[bytes, bytes]] = []

    def __call__(self, challenge: bytes, image: bytes) -> bytes:
        self.calls.append((challenge, image))
        return write_mac(self.uk, challenge, image)


def fixed_challenges(card: VirtualMeterCard, *hexes: str) -> None:
    """The card's next challenges, in order (CARDS-examples (d) fixes them)."""
    queue = [bytes.fromhex(h) for h in hexes]
    card.challenges = lambda: queue.pop(0)


def seeded_card(ef01: Purchase = EF01_7, ef02: MeterReturn = EF02_C) -> VirtualMeterCard:
    """An in-memory card for METER holding `ef01` and `ef02`, written as the kiosk
    and the meter write them (a secure write, then the meter's plain write)."""
    card = VirtualMeterCard.create(None, meter=METER, utility=Utility.ELECTRICITY)
    challenge = card.process(bytes.fromhex("0084000004"))[:4]
    image = ef01.encode()
    assert card.process(bytes.fromhex("04D6810018") + image + write_mac(KEYS.uk, challenge, image)) == b"\x90\x00"
    assert card.process(bytes.fromhex("00D6820018") + ef02.encode()) == b"\x90\x00"
    return card
