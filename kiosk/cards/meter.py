"""The terminal side of the prepaid meter user card (DESIGN §5, docs/meters.md).

`MeterCard` reads the purchase file EF 01 and the meter's return file EF 02 and
writes a new EF 01 with secure messaging. It holds no meter key: the vending
host signs the image and computes the write MAC from the card's challenge, so a
write is "GET CHALLENGE -> ask the signer -> write -> read EF 01 back".
Status words become the kiosk's typed errors; the card leaving after the write
command went out is `MeterCardTorn` (write the same image again with a new
challenge: the meter applies each count once). Calls block: a service runs
them in a worker thread."""
from __future__ import annotations

from typing import Protocol

from common.meter_card import (CHALLENGE_LEN, DF_NAME, MAC_LEN, PURCHASE_LEN, RETURN_LEN, SECURE_WRITE_HEADER,
                               SFI_PURCHASE, SFI_RETURN, MeterCardError, MeterReturn, Purchase)
from kiosk.cards.apdu import SW_NOT_FOUND, ApduTransport, Response, check, command, error_for, exchange
from kiosk.domain.errors import (CardError, CardFault, CardRemoved, MeterCardTorn, MeterMacInvalid,
                                 MeterNoChallenge, MeterWriteDenied, NotAMeterCard)

SW_MAC_INVALID = 0x9302
SW_NO_CHALLENGE = 0x6984
SW_SECURITY = 0x6982
_WRITE_ERRORS: dict[int, type[CardError]] = {
    SW_MAC_INVALID: MeterMacInvalid,
    SW_NO_CHALLENGE: MeterNoChallenge,
    SW_SECURITY: MeterWriteDenied,
}


class WriteSigner(Protocol):
    """The vending host's part: the write MAC of `image` for this `challenge`
    (MAC(UK, challenge ‖ 00000000 ‖ 04 D6 81 00 18 ‖ image))."""

    def __call__(self, challenge: bytes, image: bytes) -> bytes: ...


class MeterCard:
    """The meter application of the card behind `transport` (one session)."""

    def __init__(self, transport: ApduTransport) -> None:
        self._transport = transport

    def select(self) -> None:
        """Select `ESTATE.METER`. 6A82 -> NotAMeterCard."""
        response = self._send(command(0x00, 0xA4, 0x04, 0x00, DF_NAME))
        if response.sw == SW_NOT_FOUND:
            raise NotAMeterCard(f"card answered {response.sw:04X} to SELECT ESTATE.METER")
        check(response, "SELECT ESTATE.METER")

    def read_purchase_raw(self) -> bytes:
        return self._read(SFI_PURCHASE, PURCHASE_LEN)

    def read_return_raw(self) -> bytes:
        return self._read(SFI_RETURN, RETURN_LEN)

    def read_purchase(self) -> Purchase:
        """EF 01, decoded (its MAC is the host's to check). CardFault if it does
        not follow the layout."""
        raw = self.read_purchase_raw()
        try:
            return Purchase.decode(raw)
        except MeterCardError as exc:
            raise CardFault(f"EF 01: {exc}") from exc

    def read_return(self) -> MeterReturn:
        raw = self.read_return_raw()
        try:
            return MeterReturn.decode(raw)
        except MeterCardError as exc:
            raise CardFault(f"EF 02: {exc}") from exc

    def get_challenge(self) -> bytes:
        """4 random bytes, good for one write attempt."""
        return check(self._send(command(0x00, 0x84, 0x00, 0x00, le=CHALLENGE_LEN)), "GET CHALLENGE", CHALLENGE_LEN)

    def write_purchase(self, image: bytes, signer: WriteSigner) -> None:
        """Write the signed EF 01 `image` the host made: a challenge, the
        signer's MAC for it, the secure write, then EF 01 read back and
        compared. Nothing is written on MeterMacInvalid / MeterNoChallenge /
        MeterWriteDenied; MeterCardTorn when the card left after the write
        command went out (written or not: read EF 01 to know, or write again)."""
        image = bytes(image)
        if len(image) != PURCHASE_LEN:
            raise ValueError(f"an EF 01 image is {PURCHASE_LEN} bytes")
        meter = _meter_of(image)
        challenge = self.get_challenge()
        mac = bytes(signer(challenge, image))
        if len(mac) != MAC_LEN:
            raise ValueError(f"the write MAC is {MAC_LEN} bytes")
        try:
            response = self._send(SECURE_WRITE_HEADER + image + mac)
            if not response.ok:
                raise _WRITE_ERRORS.get(response.sw, CardFault)(
                    f"card answered {response.sw:04X} to the secure write of EF 01")
            written = self.read_purchase_raw()
        except CardRemoved as exc:
            raise MeterCardTorn(meter) from exc
        if written != image:
            raise CardFault("EF 01 read back is not the image written")

    # --- plumbing ------------------------------------------------------------------
    def _read(self, sfi: int, length: int) -> bytes:
        what = f"READ BINARY EF {sfi:02X}"
        response = self._send(command(0x00, 0xB0, 0x80 | sfi, 0x00, le=length))
        if not response.ok:
            raise error_for(response.sw, what)
        return check(response, what, length)

    def _send(self, apdu: bytes) -> Response:
        return exchange(self._transport, apdu)


def _meter_of(image: bytes) -> str:
    digits = image[:6].hex()
    return digits if digits.isdigit() else digits.upper()
