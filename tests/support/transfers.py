"""Test helpers for transfers between two cards (docs/cards.md "Transfers"):
the transfer messages signed like a kiosk's, the host's figures, and the two
kinds of card driven in the test's process (a CPU SimCard, a virtual one-card
read and written by the kiosk's purse with only the keys the host sent); and
at the kiosk (tests/transfers/test_transfer_kiosk.py, test_transfer_presentation.py):
the cards in kiosk A's readers, a card pulled at a write, kiosk B's transfer
service on the same readers, what the cards and the host hold."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text

from common.epurse import Wallet
from common.money import Money
from common.onecard import TxnType
from common.onecard_delivery import open_delivery
from host.onecard.registry import DEMO_ONECARDS
from host.schema.transfers import transfer_legs, transfers
from host.transfers.store import in_flight_fen
from kiosk.backend_client.transfers import TransferClient
from kiosk.cards.mifare_purse import OneCardPurse, Presentation, PurseResult
from kiosk.devices.sim.cpu_card import VirtualCpuCard
from kiosk.devices.sim.m1_card import VirtualM1Card
from kiosk.services.transfer import TransferService
from tests.support.card_centre import TERM_ID, WHEN, SimCard, hex_
from tests.support.onecard_host import SEED_WHEN, TERMINAL, OneCardEnv, _Ring, purse, virtual
from tests.support.onecard_kiosks import OTHER_TERMINAL, OneCardWorld
from tests.support.wallets import LI, OTHER_KIOSK, OTHER_TMK, ZHANG, card, insert
from tests.support.signing import SignedReply

FUNDED = DEMO_ONECARDS[0]
AMOUNT = Money(1_000)


@dataclass
class TransferKiosk:
    env: OneCardEnv
    txn_no: int = 100
    bodies: list[bytes] = field(default_factory=list)

    def post(self, path: str, fields: dict[str, Any]) -> SignedReply:
        signer = self.env.kiosk
        raw = signer.body(fields)
        reply = signer.send(f"/api/v1/transfers/{path}", raw, signer.mak)
        self.bodies += [raw, reply.body]
        return reply

    # --- the source ---------------------------------------------------------
    def from_cpu(self, txn_id: str, card: SimCard, wallet: Wallet, amount: int, dst: dict[str, Any],
                 **extra: Any) -> SignedReply:
        init = card.init_purchase(wallet, amount)
        self.txn_no += 1
        self._pending = (card, self.txn_no)
        return self.post("authorise", {"txn_id": txn_id, "amount_fen": amount, "src_kind": "cpu",
                                       "src_card": card.serial, "src_wallet": wallet.name,
                                       "src_balance_fen": init.balance, "src_counter": init.counter,
                                       "src_random": hex_(init.random), "src_term_txn_no": self.txn_no,
                                       "term_id": hex_(TERM_ID), "when": WHEN, **dst, **extra})

    def debit_cpu(self, txn_id: str, card: SimCard, reply: SignedReply) -> SignedReply:
        tac, mac2 = card.debit_purchase(self.txn_no, WHEN, bytes.fromhex(reply.json["mac1"]))
        return self.post("debit", {"txn_id": txn_id, "tac": hex_(tac), "mac2": hex_(mac2)})

    def from_onecard(self, txn_id: str, card: VirtualM1Card, amount: int,
                     dst: dict[str, Any]) -> tuple[SignedReply, Presentation, OneCardPurse]:
        _, p, purse_ = self.env.onecard.present(card)
        assert p.info is not None and p.balance is not None
        reply = self.post("authorise", {"txn_id": txn_id, "amount_fen": amount, "src_kind": "onecard",
                                        "src_card": card.serial, "src_balance_fen": p.balance,
                                        "src_counter": p.info.count, **dst})
        return reply, p, purse_

    def write_onecard(self, purse_: OneCardPurse, p: Presentation, reply: SignedReply, credit: bool,
                      amount: int) -> PurseResult:
        ring = purse_._keys    # noqa: SLF001 - the test's own ring
        assert isinstance(ring, _Ring)
        ring.add(open_delivery(self.env.kiosk.tmk, reply.json["keys"]))
        if credit:
            return purse_.credit(p, amount, TxnType.TRANSFER_IN, TERMINAL, SEED_WHEN)
        return purse_.debit(p, amount, TxnType.TRANSFER_OUT, TERMINAL, SEED_WHEN)

    # --- the destination ----------------------------------------------------
    def credit_cpu(self, txn_id: str, card: SimCard, wallet: Wallet, amount: int) -> SignedReply:
        init = card.init_load(wallet, amount)
        return self.post("credit", {"txn_id": txn_id, "balance_fen": init.balance, "card_counter": init.counter,
                                    "random": hex_(init.random), "mac1": hex_(init.mac1), "term_id": hex_(TERM_ID),
                                    "when": WHEN})

    def confirm_cpu(self, txn_id: str, card: SimCard, reply: SignedReply) -> SignedReply:
        tac = card.credit_load(WHEN, bytes.fromhex(reply.json["mac2"]))
        return self.post("confirm", {"txn_id": txn_id, "tac": hex_(tac)})

    def figures(self, path: str, txn_id: str, balance: int, count: int) -> SignedReply:
        return self.post(path, {"txn_id": txn_id, "balance_fen": balance, "card_counter": count})


def cpu(card: SimCard, wallet: Wallet = Wallet.EP, side: str = "dst") -> dict[str, Any]:
    return {f"{side}_kind": "cpu", f"{side}_card": card.serial, f"{side}_wallet": wallet.name}


def onecard(card: VirtualM1Card, side: str = "dst") -> dict[str, Any]:
    return {f"{side}_kind": "onecard", f"{side}_card": card.serial}


def transfer_row(env: OneCardEnv, txn_id: str) -> tuple[Any, list[Any]]:
    with env.engine.connect() as conn:
        row = conn.execute(select(transfers).where(transfers.c.txn_id == txn_id)).one()
        legs = list(conn.execute(select(transfer_legs).where(transfer_legs.c.transfer_id == row.id)
                                 .order_by(transfer_legs.c.id)))
    return row, legs


def in_flight(env: OneCardEnv) -> int:
    with env.engine.connect() as conn:
        return in_flight_fen(conn)


def held(env: OneCardEnv, cpu_cards: list[SimCard], onecards: list[VirtualM1Card]) -> int:
    """What the cards hold plus what is owed between them: constant across transfers."""
    return sum(c.ed + c.ep for c in cpu_cards) + sum(purse(c) for c in onecards) + in_flight(env)


class RecordingReader:
    """An IcReader whose sessions keep every exchange (hex, upper case) in `log`."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name = inner, inner.name
        self.log: list[tuple[str, str]] = []

    def connect(self) -> Any:
        return _RecordingTransport(self.inner.connect(), self.log)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _RecordingTransport:
    def __init__(self, inner: Any, log: list[tuple[str, str]]) -> None:
        self.inner, self.log = inner, log

    def transmit(self, apdu: bytes) -> bytes:
        try:
            answer = self.inner.transmit(apdu)
        except Exception:
            self.log.append((apdu.hex().upper(), "pulled"))
            raise
        self.log.append((apdu.hex().upper(), answer.hex().upper()))
        return bytes(answer)

    def close(self) -> None:
        self.inner.close()


def recording(service: Any) -> dict[str, RecordingReader]:
    """Put recorders in front of the transfer service's readers."""
    readers = {name: RecordingReader(reader) for name, reader in service._readers.items()}  # noqa: SLF001
    service._readers = readers  # noqa: SLF001 - the test's own view of the same readers
    return readers


# --- at the kiosk (the onecard_world fixture) --------------------------------
def total(w: OneCardWorld) -> int:
    """What every card holds plus the credits owed between them (the host's transfers in flight)."""
    with w.host.engine.connect() as conn:
        owed = int(conn.execute(text("SELECT COALESCE(SUM(amount_fen), 0) FROM transfers WHERE state = 'debited'"))
                   .scalar_one())
    cpu = sum(c.balance(Wallet.ED) + c.balance(Wallet.EP) for c in w.kiosk.sims.ic_cards.values()
              if isinstance(c, VirtualCpuCard))
    return cpu + sum(purse(c) for c in w.cards) + owed


def host_transfer(w: OneCardWorld, txn_id: str) -> str:
    """The host's state of a transfer."""
    with w.host.engine.connect() as conn:
        return str(conn.execute(text("SELECT state FROM transfers WHERE txn_id = :t"), {"t": txn_id}).scalar_one())


async def two_cpu_cards(w: OneCardWorld) -> tuple[Any, Any]:
    """ZHANG in the contact reader, LI in the contactless one, each read as a transfer's side at kiosk A."""
    await insert(w.kiosk, ZHANG.serial, "contact")
    await insert(w.kiosk, LI.serial, "contactless")
    t = w.kiosk.transfers
    return await t.card_in("contact"), await t.card_in("contactless")


async def cpu_and_onecard(w: OneCardWorld) -> tuple[Any, Any]:
    """ZHANG in the contact reader, the funded one-card in the contactless one, each read at kiosk A."""
    await insert(w.kiosk, ZHANG.serial, "contact")
    one = virtual(FUNDED)
    w.cards.append(one)
    w.kiosk.sims.ic_cards[one.serial] = one
    await insert(w.kiosk, one.serial, "contactless")
    t = w.kiosk.transfers
    return await t.card_in("contact"), await t.card_in("contactless")


def pull_cpu(w: OneCardWorld, serial: str, ins: int, verdict: str) -> None:
    """The CPU card pulled at its next command INS (0x54 DEBIT, 0x52 CREDIT), `verdict` "before"/"after" it applied."""
    victim = card(w.kiosk, serial)

    def fault(apdu: bytes) -> str | None:
        if apdu[0] == 0x80 and apdu[1] == ins:
            victim.fault = None
            return verdict
        return None
    victim.fault = fault


def kiosk_b(w: OneCardWorld) -> TransferService:
    """The fixture's second kiosk (its own journal, channel and sign-on) with a transfer service on the
    same two readers."""
    other = w.other
    readers = dict(w.kiosk.transfers._readers)   # noqa: SLF001 - the same readers (a PC/SC context is not the kiosk's state)
    return TransferService(kiosk_id=OTHER_KIOSK, term_id=OTHER_TERMINAL, journal=other.journal,
                           client=TransferClient(other.client._bank, OTHER_TMK),  # noqa: SLF001
                           onecard=other.client, session=other.session, settling=other.settling, readers=readers,
                           limits=w.kiosk.transfers.limits, now=w.kiosk.clock.now)
