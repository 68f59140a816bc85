"""The one-card at the kiosk, end to end (docs/onecard.md "The kiosk"): the real
reference host (demo config: the one-card master keys, a second kiosk in its
fleet), the kiosk's service graph built by bootstrap with its virtual cards
in the session's private pcscd, and a second kiosk (its own journal, signed
channel and sign-on) that the card is presented at after a tear. Nothing of
the project's own is mocked."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from host.onecard.registry import onecard_totals
from kiosk.backend_client.bank import BankClient
from kiosk.backend_client.onecard import OneCardClient
from kiosk.backend_client.signed import MessageCounter, SignedChannel
from kiosk.bootstrap import Kiosk, build
from kiosk.devices.sim.m1_card import VirtualM1Card
from kiosk.devices.sim.network import FaultyLink
from kiosk.services.journal import Journal
from kiosk.services.onecard import OneCardService
from kiosk.services.session import HostSession
from kiosk.services.settling import SettlingService
from tests.support.clocks import TODAY
from tests.support.onecard_host import purse
from tests.support.payments import kiosk_settings
from tests.support.wallets import OTHER_KIOSK, OTHER_TMK, start_host_with_other_kiosk

OTHER_TERMINAL = bytes.fromhex("000000000202")


@dataclass
class OneCardWorld:
    host: Any                    # HostServer with .engine
    kiosk: Kiosk
    other: OneCardService        # kiosk B
    cards: list[VirtualM1Card]
    link: FaultyLink | None = None   # kiosk A's link to the host (a test may take it down)

    def money(self) -> dict[str, int]:
        with self.host.engine.connect() as conn:
            bank = int(conn.execute(text("SELECT SUM(balance_fen) FROM bank_accounts")).scalar_one())
            return {"bank_balances_fen": bank, **onecard_totals(conn)}

    def total(self) -> int:
        """Bank accounts + one-card loads in flight + the property ledger's one-card
        payments + what the cards themselves hold."""
        m = self.money()
        return m["bank_balances_fen"] + m["onecard_loads_in_flight_fen"] + m["onecard_ledger_fen"] + sum(
            purse(c) for c in self.cards)

    def mirror(self, uid: str) -> tuple[int, int]:
        with self.host.engine.connect() as conn:
            row = conn.execute(text("SELECT balance_fen, txn_count FROM onecards WHERE uid = :u"), {"u": uid}).one()
        return int(row[0]), int(row[1])

    def txn_state(self, txn_id: str) -> str:
        with self.host.engine.connect() as conn:
            return str(conn.execute(text("SELECT state FROM onecard_txns WHERE txn_id = :t"), {"t": txn_id})
                       .scalar_one())


@pytest.fixture
def onecard_host(tmp_path: Path, demo_db: Path) -> Iterator[Any]:
    server = start_host_with_other_kiosk(tmp_path, demo_db, TODAY)
    yield server
    server.stop()
    server.engine.dispose()


class NoBankLink:
    """The second kiosk takes no bank-card bill payments: nothing to reverse."""

    async def reverse(self, txn_id: str, amount_fen: int, reason: str) -> Any:
        raise AssertionError(f"kiosk B has no bank link, yet was asked to reverse {txn_id}")


@pytest.fixture
async def onecard_world(tmp_path: Path, onecard_host: Any, pcscd: Any) -> AsyncIterator[OneCardWorld]:
    link = FaultyLink("127.0.0.1", onecard_host.port)
    kiosk = build(kiosk_settings(tmp_path, link.url, wallet=True, bank_port=onecard_host.bank_port), pcscd=pcscd,
                  with_fleet=False)   # its [bank] at the host's front-end: bill payments over the link
    assert kiosk.settler is not None and kiosk.onecard is not None
    kiosk.settler._first_backoff_s = 0.05   # noqa: SLF001 - tests wait on settling, not on back-off
    await kiosk.start()
    other_journal = Journal(tmp_path / "kiosk-b" / "journal.sqlite3")
    channel = SignedChannel(onecard_host.url, OTHER_KIOSK, MessageCounter(other_journal.next_counter), timeout_s=5)
    bank = BankClient(channel, OTHER_TMK)
    session = HostSession(bank, None)
    settling = SettlingService(journal=other_journal, bank=bank, reverser=NoBankLink(), session=session)
    other = OneCardService(kiosk_id=OTHER_KIOSK, term_id=OTHER_TERMINAL, journal=other_journal,
                           client=OneCardClient(bank, OTHER_TMK), session=session, settling=settling,
                           reader=kiosk.onecard.reader, now=kiosk.clock.now)   # kiosk A's reader: a PC/SC context each is a pcscd thread
    world = OneCardWorld(onecard_host, kiosk, other, [], link)
    try:
        yield world
    finally:
        await kiosk.aclose()
        await bank.aclose()
        other_journal.close()
        link.close()
