"""Card I/O of a transfer's legs, blocking (the service runs it in worker
threads): a CPU card's e-purse (select, serial, balances; purchase to debit,
load to credit, GET TRANSACTION PROVE after a tear) and a one-card's session
(UID, the purse over the host's session keys; its own recovery at every
presentation). A session stays open from INITIALIZE to the write: the card
forgets an initialize when powered down."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from common.epurse import TxnType, Wallet
from common.onecard import SectorKeys, TxnType as OneCardType
from kiosk.cards.apdu import ApduTransport
from kiosk.cards.epurse import EPurse, OnlineInit, PurchaseInit
from kiosk.cards.mifare_purse import Presentation, PurseResult, StepHook
from kiosk.devices.ports import IcReader
from kiosk.domain.errors import KioskError, NotTheSameCard
from kiosk.services.onecard_card import CardSession, is_onecard, open_session


def _close(transport: ApduTransport) -> None:
    close = getattr(transport, "close", None)
    if close is not None:
        try:
            close()
        except KioskError:
            pass


@dataclass
class CpuSession:
    purse: EPurse
    transport: ApduTransport
    serial: str

    def close(self) -> None:
        _close(self.transport)

    def balance(self, wallet: Wallet) -> int:
        return self.purse.get_balance(wallet)

    def init_debit(self, wallet: Wallet, amount: int, term_id: bytes, pin: str | None) -> PurchaseInit:
        if wallet is Wallet.ED and pin is not None:
            self.purse.verify_pin(pin)
        return self.purse.init_purchase(wallet, amount, term_id)

    def debit(self, term_txn_no: int, when: datetime, mac1: bytes) -> tuple[bytes, bytes]:
        """(TAC, MAC2)."""
        return self.purse.debit_purchase(term_txn_no, when, mac1)

    def init_credit(self, wallet: Wallet, amount: int, term_id: bytes, pin: str | None) -> OnlineInit:
        if wallet is Wallet.ED and pin is not None:
            self.purse.verify_pin(pin)
        return self.purse.init_load(wallet, amount, term_id)

    def credit(self, when: datetime, mac2: bytes) -> bytes:
        """The TAC."""
        return self.purse.credit_load(when, mac2)

    def proof(self, txn_type: TxnType, counter: int) -> tuple[bytes, bytes] | None:
        """(MAC2, TAC) of the write the card did with `counter`, or None if it did not."""
        return self.purse.transaction_proof(txn_type, counter)


def open_cpu(reader: IcReader, expect: str | None = None) -> CpuSession:
    transport = reader.connect()
    try:
        purse = EPurse(transport)
        purse.select()
        serial = purse.read_app_info().serial_hex
        if expect is not None and serial != expect:
            raise NotTheSameCard(serial)
        return CpuSession(purse, transport, serial)
    except BaseException:
        _close(transport)
        raise


class OneCardLeg:
    """A one-card's session for a leg: presented (steps 1–2 and any recovery)
    with the read keys, then the leg's write with the keys its approval sent."""

    def __init__(self, reader: IcReader, hook: StepHook) -> None:
        self.session: CardSession = open_session(reader, hook)

    @property
    def uid(self) -> str:
        return self.session.uid_hex

    def add_keys(self, keys: dict[int, SectorKeys]) -> None:
        self.session.ring.add(keys)

    def present(self, term_id: bytes, when: datetime) -> Presentation:
        return self.session.present(term_id, when)

    def figures(self) -> tuple[int, int]:
        p = self.session.presentation
        assert p is not None and p.info is not None and p.balance is not None
        return p.balance, p.info.count

    def write(self, credit: bool, amount: int, term_id: bytes, when: datetime) -> PurseResult:
        p = self.session.presentation
        assert p is not None
        purse = self.session.purse
        if credit:
            return purse.credit(p, amount, OneCardType.TRANSFER_IN, term_id, when)
        return purse.debit(p, amount, OneCardType.TRANSFER_OUT, term_id, when)

    def close(self) -> None:
        self.session.close()


__all__ = ["CpuSession", "OneCardLeg", "is_onecard", "open_cpu"]
