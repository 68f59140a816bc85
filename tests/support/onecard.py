"""The one-card's test helpers: the worked example card of
../shared/CARDS-examples.md ("MIFARE Classic one-card", UID A1B2C3D4), its
25-APDU debit transcript, and transports that talk to a virtual card in the
test's process (a pulled card is CardRemoved, as pcscd reports it)."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Literal

from kiosk.cards.apdu import ApduTransport
from kiosk.devices.sim.cpu_card_data import CardPulled
from kiosk.devices.sim.m1_card import VirtualM1Card
from kiosk.devices.sim.m1_card_data import OneCardProfile
from kiosk.domain.errors import CardRemoved

UID = bytes.fromhex("A1B2C3D4")
TERMINAL = bytes.fromhex("000000000001")
WHEN = datetime(2026, 12, 5, 10, 15)
EXAMPLE = OneCardProfile(uid=UID, issued=date(2026, 12, 1), expiry=date(2031, 12, 31), balance=12345,
                         serial=12345, house="3-2-1202", household_id=1202, holder="张三",
                         pointer=2, count=16)

# The debit of 50.00 (type 05) from the freshly personalised example card:
# (command, response), hex, as CARDS-examples.md lists them.
DEBIT_TRANSCRIPT = [
    ("FFCA000000", "A1B2C3D49000"),
    ("FF82000006F97378C9FA04", "9000"),
    ("FF860000050100186000", "9000"),
    ("FFB0001810", "020010020000000000000000000000109000"),
    ("FFB0001910", "FDFFEFFDFFFFFFFFFFFFFFFFFFFFFFEF9000"),
    ("FF820000063E504A4D4E2C", "9000"),
    ("FF860000050100086000", "9000"),
    ("FFB0000810", "39300000C6CFFFFF3930000008F708F79000"),
    ("FFB0000910", "39300000C6CFFFFF3930000008F708F79000"),
    ("FF82000006F97378C9FA04", "9000"),
    ("FF860000050100186000", "9000"),
    ("FFD600181002001001000500138800303900000084", "9000"),
    ("FFD6001910FDFFEFFEFFFAFFEC77FFCFC6FFFFFF7B", "9000"),
    ("FF820000063E504A4D4E2C", "9000"),
    ("FF860000050100086000", "9000"),
    ("FFD70008050200001388", "9000"),
    ("FFB0000810", "B11C00004EE3FFFFB11C000008F708F79000"),
    ("FFD70008020309", "9000"),
    ("FF82000006587C15C7EADB", "9000"),
    ("FF860000050100106000", "9000"),
    ("FFD6001010001105001388001CB100000112051015", "9000"),
    ("FF82000006F97378C9FA04", "9000"),
    ("FF860000050100186000", "9000"),
    ("FFD600181003001102000000000000000000000010", "9000"),
    ("FFD6001910FCFFEEFDFFFFFFFFFFFFFFFFFFFFFFEF", "9000"),
]


def example_card(folder: Path | None = None, **changes: object) -> VirtualM1Card:
    import dataclasses
    return VirtualM1Card.create(folder, dataclasses.replace(EXAMPLE, **changes))  # type: ignore[arg-type]


class Direct:
    """The card's APDU handler as the transport, every exchange kept."""

    def __init__(self, card: VirtualM1Card) -> None:
        self.card = card
        self.log: list[tuple[str, str]] = []

    def transmit(self, apdu: bytes) -> bytes:
        try:
            answer = self.card.process(apdu)
        except CardPulled as pulled:
            self.log.append((apdu.hex().upper(), "pulled"))
            raise CardRemoved("the virtual card was pulled") from pulled
        self.log.append((apdu.hex().upper(), answer.hex().upper()))
        return answer


class Recording:
    """Any transport, every exchange kept (hex, upper case)."""

    def __init__(self, inner: ApduTransport) -> None:
        self.inner = inner
        self.log: list[tuple[str, str]] = []

    def transmit(self, apdu: bytes) -> bytes:
        answer = self.inner.transmit(apdu)
        self.log.append((apdu.hex().upper(), answer.hex().upper()))
        return answer


def pull_at(card: VirtualM1Card, n: int, *, applied: bool) -> None:
    """Pull the card during its n-th next APDU (0 = the next one): after
    applying it (its answer is lost) or, with applied=False, before."""
    left = n

    def hook(_apdu: bytes) -> Literal["before", "after"] | None:
        nonlocal left
        if left > 0:
            left -= 1
            return None
        card.fault = None
        return "after" if applied else "before"
    card.fault = hook
