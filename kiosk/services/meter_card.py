"""Card I/O for the meter service: the meter user card's two files, the write
of a signed image with the host as the signer, and the proof that a card does
not hold a sale. Blocking calls: the service runs them in worker threads. The
kiosk holds no meter key: `signer` asks the vending host for each write MAC."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiosk.cards.apdu import ApduTransport
from kiosk.cards.meter import MeterCard, WriteSigner
from kiosk.devices.ports import IcReader
from kiosk.domain.errors import KioskError, NotTheSameCard


@dataclass
class MeterSession:
    card: MeterCard
    transport: ApduTransport

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close is not None:
            try:
                close()
            except KioskError:
                pass


def open_card(reader: IcReader) -> MeterSession:
    transport = reader.connect()
    session = MeterSession(MeterCard(transport), transport)
    try:
        session.card.select()
    except BaseException:
        session.close()
        raise
    return session


def read_files(reader: IcReader) -> tuple[bytes, bytes]:
    """EF 01 and EF 02 as the card holds them (the host checks them)."""
    session = open_card(reader)
    try:
        return session.card.read_purchase_raw(), session.card.read_return_raw()
    finally:
        session.close()


def write_image(reader: IcReader, image: bytes, before: bytes | None, signer: WriteSigner) -> bool:
    """Write `image` onto the card in the reader; False when it holds it already.
    `before`: the EF 01 the sale was quoted on; another card in the reader is
    NotTheSameCard (nothing written, no MAC asked for)."""
    session = open_card(reader)
    try:
        ef01 = session.card.read_purchase_raw()
        if ef01 == image:
            return False
        if before is not None and ef01 != before:
            raise NotTheSameCard("the card in the reader is not the one the sale was quoted on")
        session.card.write_purchase(image, signer)
        return True
    finally:
        session.close()


def proof_of_absence(reader: IcReader) -> bytes:
    """EF 01 read after a fresh GET CHALLENGE: that challenge voids any write MAC
    handed out before, so what is read is what the card will keep holding."""
    session = open_card(reader)
    try:
        session.card.get_challenge()
        return session.card.read_purchase_raw()
    finally:
        session.close()


Reader = Callable[[str], IcReader]
