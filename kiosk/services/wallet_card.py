"""Card I/O for the wallet: the named IC readers, a session with the card's
e-purse (select, serial), and the card as the screens see it. Blocking calls:
the wallet service runs them in worker threads. A session stays open from
INITIALIZE to the write, because the card forgets an initialize when it is
powered down."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kiosk.cards.apdu import ApduTransport
from kiosk.cards.epurse import EPurse
from common.epurse import Wallet
from kiosk.devices.ports import IcReader
from kiosk.domain.errors import KioskError, NotTheSameCard, ReaderFault
from common.money import Money
from kiosk.services.wallet_view import CardView, HistoryLine, WalletLimits


@dataclass
class CardSession:
    """A card session held open across the card centre's answer."""
    purse: EPurse
    transport: ApduTransport
    serial: str
    closed: bool = False

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close is not None and not self.closed:
            self.closed = True
            try:
                close()
            except KioskError:
                pass


class CardAccess:
    def __init__(self, readers: Mapping[str, IcReader], limits: WalletLimits) -> None:
        self._readers = readers
        self.limits = limits

    def reader(self, name: str) -> IcReader:
        try:
            return self._readers[name]
        except KeyError:
            raise ReaderFault(f"no IC card reader named {name!r}") from None

    def open(self, reader: str, expect_serial: str | None) -> CardSession:
        """Connect, select the e-purse and read its serial."""
        transport = self.reader(reader).connect()
        purse = EPurse(transport)
        session = CardSession(purse, transport, "")
        try:
            purse.select()
            session.serial = purse.read_app_info().serial_hex
            if expect_serial is not None and session.serial != expect_serial:
                raise NotTheSameCard(session.serial)
        except BaseException:
            session.close()
            raise
        return session

    def read_view(self, session: CardSession, reader: str, holder: str, resolved: tuple[str, ...]) -> CardView:
        purse = session.purse
        info = purse.read_app_info()
        ed, ep = purse.get_balance(Wallet.ED), purse.get_balance(Wallet.EP)
        history = tuple(HistoryLine(r.when, r.txn_type, Money(r.amount), r.term_id.hex().upper())
                        for r in purse.read_log())
        return CardView(reader, session.serial, holder, Money(ed), Money(ep), self.limits.ed_max,
                        self.limits.ep_max, info.expiry, history, resolved)
