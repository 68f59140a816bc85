"""Card I/O of the one-card service: a session with a one-card in a reader
(connect, UID, the purse over the host's session keys) and what a screen
shows of it. Blocking calls: the service runs them in worker threads."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from common.money import Money
from common.onecard import DEMO_MAP, RECORD_SLOTS, KeyType, MalformedBlock, SectorMap, sector_of
from common.onecard_blocks import Record
from kiosk.backend_client.onecard import SessionKeyRing
from kiosk.cards.apdu import ApduTransport
from kiosk.cards.mifare import MifareClassic, is_classic_1k_atr
from kiosk.cards.mifare_purse import OneCardPurse, Presentation, Step, StepHook
from kiosk.devices.ports import IcReader
from kiosk.domain.errors import CardFault, KioskError

_UID_APDU = bytes.fromhex("FFCA000000")


@dataclass(frozen=True)
class RecordLine:
    seq: int
    txn_type: int               # 01 load, 05 bill payment, 07 transfer in, 08 transfer out
    amount: Money
    balance_after: Money
    terminal: str               # the last 3 bytes of the terminal id, hex
    when: str                   # MMDDhhmm


@dataclass(frozen=True)
class OneCardView:
    """A one-card as its screen shows it, after the host accepted it."""
    uid: str
    holder: str
    house_no: str
    balance: Money
    count: int
    records: tuple[RecordLine, ...]       # newest first
    settled: tuple[str, ...]              # operations a presentation here finished (txn ids)


class CardSession:
    """One tap of the card: its transport, driver, session keys and purse."""

    def __init__(self, transport: ApduTransport, hook: StepHook, sector_map: SectorMap = DEMO_MAP) -> None:
        self.transport, self.card, self.map = transport, MifareClassic(transport), sector_map
        self.uid = self.card.uid()
        self.ring = SessionKeyRing(self.uid)
        self.purse = OneCardPurse(self.card, self.ring, sector_map, on_step=hook)
        self.presentation: Presentation | None = None

    @property
    def uid_hex(self) -> str:
        return self.uid.hex().upper()

    def present(self, terminal_id: bytes, when: datetime) -> Presentation:
        self.presentation = self.purse.present(terminal_id, when)
        return self.presentation

    def issuance_blocks(self) -> tuple[bytes, bytes]:
        """Blocks 4 and 5 as they are (the host checks the auth code: IK is there)."""
        self._login(self.map.issuance_block)
        return self.card.read(self.map.issuance_block), self.card.read(self.map.auth_block)

    def records(self, pointer: int) -> tuple[RecordLine, ...]:
        """The cyclic records, newest first (the slot `pointer` is the last written)."""
        lines: list[RecordLine] = []
        for back in range(RECORD_SLOTS):
            block = self.map.record_block((pointer - back) % RECORD_SLOTS)
            self._login(block)
            try:
                r = Record.decode(self.card.read(block))
            except MalformedBlock:
                continue
            if r.seq == 0 and r.txn_type == 0:     # never written
                continue
            lines.append(RecordLine(r.seq, r.txn_type, Money(r.amount), Money(r.balance_after),
                                    r.terminal.hex().upper(), r.when))
        return tuple(lines)

    def _login(self, block: int) -> None:
        try:
            keys = self.ring.sector_keys(self.uid, sector_of(block))
        except LookupError as exc:
            raise CardFault(f"no session key for sector {sector_of(block)}") from exc
        self.card.login(block, KeyType.A, keys.a)

    def close(self) -> None:
        self.ring.forget()
        close = getattr(self.transport, "close", None)
        if close is not None:
            try:
                close()
            except KioskError:
                pass


def open_session(reader: IcReader, hook: StepHook) -> CardSession:
    transport = reader.connect()
    try:
        return CardSession(transport, hook)
    except BaseException:
        close = getattr(transport, "close", None)
        if close is not None:
            close()
        raise


def is_onecard(reader: IcReader) -> bool:
    """A one-card, not a CPU card. By the ATR when the transport carries one
    (PcscTransport: a real reader reports a MIFARE Classic 1K as a PC/SC Part 3
    storage card, a contactless CPU card with its own historical bytes; a real
    reader answers GET DATA for both, so the answer alone cannot tell them).
    Without an ATR: a MIFARE Classic answers the reader's GET DATA (UID) with 4
    bytes and 90 00; our CPU cards refuse class FF (6E 00)."""
    transport = reader.connect()
    try:
        atr = getattr(transport, "atr", b"")     # not part of ApduTransport: in-process transports have none
        if atr:
            return is_classic_1k_atr(atr)
        answer = transport.transmit(_UID_APDU)
    finally:
        close = getattr(transport, "close", None)
        if close is not None:
            close()
    return len(answer) == 6 and answer[-2:] == b"\x90\x00"


__all__ = ["CardSession", "OneCardView", "RecordLine", "Step", "is_onecard", "open_session"]
