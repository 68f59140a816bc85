"""APDUs: the transport port, a command builder, responses, status words ->
typed errors (docs/cards.md §3), and the APDU trace.

The trace goes to the DEBUG logger `kiosk.cards.apdu` as `>> 00 A4 ...` and
`<< 90 00`. The data of PIN commands (VERIFY, CHANGE PIN) is masked there;
nothing else in the terminal ever logs a PIN."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from kiosk.domain.errors import (
    CardError,
    CardFault,
    CardKeyMissing,
    CardMacInvalid,
    CardPinBlocked,
    CardPinWrong,
    NotOurCard,
    WalletInsufficient,
    WalletLimitExceeded,
)

log = logging.getLogger("kiosk.cards.apdu")

SW_OK = 0x9000
SW_PIN_BLOCKED = 0x6983
SW_NOT_FOUND = 0x6A82             # file / application not found
SW_RECORD_NOT_FOUND = 0x6A83      # a log record never written
SW_MAC_NOT_AVAILABLE = 0x9406     # transaction proof: not applied / unknown

# Instructions whose command data is a PIN (ISO VERIFY, CHANGE REFERENCE DATA,
# RESET RETRY COUNTER; PBOC CHANGE PIN), masked in the trace whatever the CLA.
PIN_INS = frozenset({0x20, 0x24, 0x2C, 0x5E})

_ERRORS: dict[int, type[CardError]] = {
    SW_PIN_BLOCKED: CardPinBlocked,
    0x9401: WalletInsufficient,
    0x9402: WalletLimitExceeded,
    0x9302: CardMacInvalid,
    0x9403: CardKeyMissing,
    SW_NOT_FOUND: NotOurCard,
}


class ApduTransport(Protocol):
    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return the response data ‖ SW1 SW2. Raises
        CardRemoved, CardFault (card I/O) or ReaderFault (reader / pcscd)."""


def command(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    """A short command APDU (ISO 7816-4 cases 1-4). `le` 256 is sent as 00."""
    for name, value in (("CLA", cla), ("INS", ins), ("P1", p1), ("P2", p2)):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"{name} must be one byte")
    if len(data) > 255:
        raise ValueError("command data longer than 255 bytes needs extended APDUs")
    apdu = bytes([cla, ins, p1, p2])
    if data:
        apdu += bytes([len(data)]) + data
    if le is not None:
        if not 1 <= le <= 256:
            raise ValueError("Le must be 1..256")
        apdu += bytes([le & 0xFF])
    return apdu


@dataclass(frozen=True, slots=True)
class Response:
    data: bytes
    sw: int

    @classmethod
    def parse(cls, raw: bytes) -> Response:
        if len(raw) < 2:
            raise CardFault(f"response of {len(raw)} bytes has no status word")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK


def error_for(sw: int, what: str) -> CardError:
    """The typed error for a status word that is not success (docs/cards.md §3)."""
    detail = f"card answered {sw:04X} to {what}"
    if sw & 0xFFF0 == 0x63C0:
        return CardPinWrong(sw & 0x0F, detail)
    return _ERRORS.get(sw, CardFault)(detail)


def check(response: Response, what: str, data_len: int | None = None) -> bytes:
    """The response data if the status is 9000 (and the data `data_len` bytes
    long when given); the typed error otherwise."""
    if not response.ok:
        raise error_for(response.sw, what)
    if data_len is not None and len(response.data) != data_len:
        raise CardFault(f"{what}: {len(response.data)} bytes of data, expected {data_len}")
    return response.data


def exchange(transport: ApduTransport, apdu: bytes) -> Response:
    """Transmit one APDU with the trace around it."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug(">> %s", trace_command(apdu))
    raw = transport.transmit(apdu)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("<< %s", _hex(raw))
    return Response.parse(raw)


def trace_command(apdu: bytes) -> str:
    """The command as spaced hex, with the data of a PIN command as `**`."""
    if len(apdu) > 5 and apdu[1] in PIN_INS:
        return " ".join([_hex(apdu[:5]), *["**"] * (len(apdu) - 5)])
    return _hex(apdu)


def _hex(data: bytes) -> str:
    return data.hex(" ").upper()
