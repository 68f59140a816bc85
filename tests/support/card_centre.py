"""Test helpers for the card centre (docs/cards.md §5): the card's side of the
e-purse computed with the shared MAC functions (common.epurse_issuer), a
kiosk that sends the card-centre messages through the real SecureChannel
(signing_client.KioskSigner), a fixture with a running host whose config holds
test issuer keys, and the money invariants."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.bank8583 import Terminal, start_front_end, with_terminals
from tests.support.clocks import running_from
from host.app import create_app
from host.config import load_host_settings
from host.db import make_engine
from host.schema.cards import card_txns, ic_cards
from host.server import HostServer
from tests.support.host_env import BankEnv, GOOD, SEED_TODAY, TEST_HOST_TOML, TEST_KIOSK, TEST_TMK
from common.epurse_issuer import (load_mac1, load_mac2, load_tac, online_session_key, purchase_mac1,
                                  purchase_mac2, purchase_sk, purchase_tac, PurseKeys, unload_mac3)
from common.epurse import TxnType, Wallet
from common.demo_cards import DemoCard, DemoIcCard, load_test_cards
from tests.support.signing import KioskSigner, SignedReply

# Test issuer keys: not the demo keys, so a test proves the host uses its config.
TEST_ISSUER = PurseKeys.from_hex(dlk="BC3A473337F4B9D1E93142F91E67B89A", dpk="87E1ED740393D34205A3B567CDB718ED",
                                 duk="6A6D2E99587A129E9D7B3B740A46A540", dtk="23463C0DE21FDBFF9B35B2EB1914E2E0")
CARD_CENTRE_TOML = """
[card_centre]
dlk = "BC3A473337F4B9D1E93142F91E67B89A"
dpk = "87E1ED740393D34205A3B567CDB718ED"
duk = "6A6D2E99587A129E9D7B3B740A46A540"
dtk = "23463C0DE21FDBFF9B35B2EB1914E2E0"
"""

IC = {card.serial: card for card in load_test_cards().ic_cards}
ZHANG = IC["00002601000000000001"]     # active; ED 300.00, EP 85.50
LI = IC["00002601000000000002"]        # active; ED 1,200.00, EP 20.00
LIU = IC["00002601000000000004"]       # blacklisted
CHEN = IC["00002601000000000005"]      # EP 990.00 of 1,000.00; ED 49,900.00 of 50,000.00

TERM_ID = bytes.fromhex("000000000101")
WHEN = "20261121103105"
MAX_FEN = {Wallet.EP: 100_000, Wallet.ED: 5_000_000}


class CardRefused(Exception):
    """What the real card answers 9302 (MAC invalid) or 6985 (no initialize) for."""


@dataclass
class OnlineInit:
    balance: int
    counter: int
    random: bytes
    mac1: bytes = b""


@dataclass
class SimCard:
    """The card side of the e-purse (DESIGN §5) as pure state: enough to prove
    the host's MAC2 / MAC1 are what a card accepts and to produce real TACs."""
    serial: str
    ed: int
    ep: int
    issuer: PurseKeys = TEST_ISSUER
    online: int = 0
    offline: int = 0
    _pending: tuple[Any, ...] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, card: DemoIcCard, issuer: PurseKeys = TEST_ISSUER) -> "SimCard":
        return cls(card.serial, card.ed_balance.fen, card.ep_balance.fen, issuer)

    @property
    def keys(self) -> PurseKeys:
        return self.issuer.for_card(bytes.fromhex(self.serial))

    def balance(self, wallet: Wallet) -> int:
        return self.ed if wallet is Wallet.ED else self.ep

    def _add(self, wallet: Wallet, delta: int) -> None:
        if wallet is Wallet.ED:
            self.ed += delta
        else:
            self.ep += delta

    def init_load(self, wallet: Wallet, amount: int, term_id: bytes = TERM_ID) -> OnlineInit:
        random = secrets.token_bytes(4)
        sk = online_session_key(self.keys.dlk, random, self.online)
        mac1 = load_mac1(sk, self.balance(wallet), amount, TxnType.load(wallet), term_id)
        self._pending = ("load", wallet, amount, term_id, sk)
        return OnlineInit(self.balance(wallet), self.online, random, mac1)

    def credit_load(self, when: str, mac2: bytes) -> bytes:
        _, wallet, amount, term_id, sk = self._take("load")
        txn_type = TxnType.load(wallet)
        if load_mac2(sk, amount, txn_type, term_id, bytes.fromhex(when)) != mac2:
            raise CardRefused("9302")
        tac = load_tac(self.keys.dtk, self.balance(wallet) + amount, self.online, amount, txn_type, term_id,
                       bytes.fromhex(when))
        self._add(wallet, amount)
        self.online += 1
        return tac

    def init_unload(self, amount: int, term_id: bytes = TERM_ID) -> OnlineInit:
        random = secrets.token_bytes(4)
        sk = online_session_key(self.keys.duk, random, self.online)
        mac1 = load_mac1(sk, self.ed, amount, TxnType.UNLOAD, term_id)
        self._pending = ("unload", Wallet.ED, amount, term_id, sk)
        return OnlineInit(self.ed, self.online, random, mac1)

    def unload(self, when: str, mac2: bytes) -> bytes:
        _, _, amount, term_id, sk = self._take("unload")
        if load_mac2(sk, amount, TxnType.UNLOAD, term_id, bytes.fromhex(when)) != mac2:
            raise CardRefused("9302")
        mac3 = unload_mac3(sk, self.ed - amount, self.online, amount, term_id, bytes.fromhex(when))
        self.ed -= amount
        self.online += 1
        return mac3

    def init_purchase(self, wallet: Wallet, amount: int, term_id: bytes = TERM_ID) -> OnlineInit:
        random = secrets.token_bytes(4)
        self._pending = ("purchase", wallet, amount, term_id, random)
        return OnlineInit(self.balance(wallet), self.offline, random)

    def debit_purchase(self, term_txn_no: int, when: str, mac1: bytes) -> tuple[bytes, bytes]:
        _, wallet, amount, term_id, random = self._take("purchase")
        sk = purchase_sk(self.keys.dpk, random, self.offline, term_txn_no)
        txn_type = TxnType.purchase(wallet)
        if purchase_mac1(sk, amount, txn_type, term_id, bytes.fromhex(when)) != mac1:
            raise CardRefused("9302")
        tac = purchase_tac(self.keys.dtk, amount, txn_type, term_id, term_txn_no, bytes.fromhex(when))
        self._add(wallet, -amount)
        self.offline += 1
        return tac, purchase_mac2(sk, amount)

    def _take(self, kind: str) -> tuple[Any, ...]:
        if self._pending is None or self._pending[0] != kind:
            raise CardRefused("6985")
        pending, self._pending = self._pending, None
        return pending


def hex_(data: bytes) -> str:
    return data.hex().upper()


@dataclass
class CardKiosk:
    """The card-centre messages of docs/cards.md §5, signed by a KioskSigner."""
    signer: KioskSigner
    txn_no: int = 0

    def post(self, path: str, fields: dict[str, Any], **kw: Any) -> SignedReply:
        return self.signer.post(f"/api/v1/cards/{path}", fields, **kw)

    def seen(self, serial: str) -> SignedReply:
        return self.post("seen", {"serial": serial})

    def blacklist(self, since: int) -> SignedReply:
        return self.post("blacklist", {"since": since})

    def bank_fields(self, bank: DemoCard, pin: str | None = None, *, with_pin: bool = True) -> dict[str, Any]:
        fields = {"pan": bank.pan, "track2": bank.track2, "expiry": bank.expiry}
        if with_pin:
            fields["pin_block"] = self.signer.pin_block(bank.pin if pin is None else pin, bank.pan)
        return fields

    def load_fields(self, txn_id: str, card: SimCard, wallet: Wallet, amount: int, init: OnlineInit,
                    bank: DemoCard = GOOD, pin: str | None = None, when: str = WHEN) -> dict[str, Any]:
        return {"txn_id": txn_id, "serial": card.serial, "wallet": wallet.name, "amount_fen": amount,
                "balance_fen": init.balance, "card_counter": init.counter, "random": hex_(init.random),
                "mac1": hex_(init.mac1), "term_id": hex_(TERM_ID), "when": when, **self.bank_fields(bank, pin)}

    def load_authorise(self, txn_id: str, card: SimCard, wallet: Wallet, amount: int, bank: DemoCard = GOOD,
                       pin: str | None = None) -> tuple[SignedReply, OnlineInit]:
        init = card.init_load(wallet, amount)
        return self.post("load/authorise", self.load_fields(txn_id, card, wallet, amount, init, bank, pin)), init

    def load(self, txn_id: str, card: SimCard, wallet: Wallet, amount: int, bank: DemoCard = GOOD) -> SignedReply:
        """The whole load: authorise, the card's credit, confirm with its TAC."""
        reply, _ = self.load_authorise(txn_id, card, wallet, amount, bank)
        assert reply.status == 200 and reply.json["result"] == "approved", reply.body
        tac = card.credit_load(WHEN, bytes.fromhex(reply.json["mac2"]))
        return self.post("load/confirm", {"txn_id": txn_id, "tac": hex_(tac)})

    def unload_fields(self, txn_id: str, card: SimCard, amount: int, init: OnlineInit, bank: DemoCard = GOOD,
                      when: str = WHEN) -> dict[str, Any]:
        return {"txn_id": txn_id, "serial": card.serial, "amount_fen": amount, "balance_fen": init.balance,
                "card_counter": init.counter, "random": hex_(init.random), "mac1": hex_(init.mac1),
                "term_id": hex_(TERM_ID), "when": when, **self.bank_fields(bank, with_pin=False)}

    def unload_authorise(self, txn_id: str, card: SimCard, amount: int,
                         bank: DemoCard = GOOD) -> tuple[SignedReply, OnlineInit]:
        init = card.init_unload(amount)
        return self.post("unload/authorise", self.unload_fields(txn_id, card, amount, init, bank)), init

    def purchase_fields(self, txn_id: str, card: SimCard, wallet: Wallet, house: str, periods: list[str],
                        amount: int, init: OnlineInit, term_txn_no: int, when: str = WHEN) -> dict[str, Any]:
        return {"txn_id": txn_id, "serial": card.serial, "wallet": wallet.name, "house_no": house,
                "periods": periods, "amount_fen": amount, "balance_fen": init.balance, "card_counter": init.counter,
                "random": hex_(init.random), "term_txn_no": term_txn_no, "term_id": hex_(TERM_ID), "when": when}

    def purchase_authorise(self, txn_id: str, card: SimCard, wallet: Wallet, house: str, periods: list[str],
                           amount: int) -> tuple[SignedReply, int]:
        self.txn_no += 1
        init = card.init_purchase(wallet, amount)
        fields = self.purchase_fields(txn_id, card, wallet, house, periods, amount, init, self.txn_no)
        return self.post("purchase/authorise", fields), self.txn_no

    def cancel(self, kind: str, txn_id: str, reason: str = "card removed") -> SignedReply:
        return self.post(f"{kind}/cancel", {"txn_id": txn_id, "reason": reason})


@dataclass
class CardEnv(BankEnv):
    cards: CardKiosk
    server: Any = None      # the HostServer and its clock: cards_link starts the front-end beside it
    clock: Any = None

    def card_row(self, serial: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(ic_cards).where(ic_cards.c.serial == serial)).one()

    def txn(self, txn_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(card_txns).where(card_txns.c.txn_id == txn_id)).one()

    def mirror(self, serial: str) -> tuple[int, int]:
        row = self.card_row(serial)
        return row.ed_fen, row.ep_fen


def host_toml_with_cards(folder: Path, extra: str = CARD_CENTRE_TOML) -> Path:
    path = folder / "host-cards.toml"
    path.write_text(TEST_HOST_TOML + extra, encoding="utf-8")
    return path


@pytest.fixture(name="cards")
def cards_fixture(bank_url: str, tmp_path: Path) -> Iterator[CardEnv]:
    """A running host on a private copy of the seeded estate (bank accounts and
    the card registry from config/test-cards.toml) on the test's backend, its
    card centre keyed with TEST_ISSUER, and a signed-on kiosk."""
    # the kiosk's terminal on the bank link: a test paying a bill over it starts
    # the front-end (cards_link); the others leave it off
    settings = with_terminals(load_host_settings(host_toml_with_cards(tmp_path)), TEST_KIOSK)
    engine = make_engine(bank_url)
    clock = running_from(SEED_TODAY)
    server = HostServer(create_app(settings, engine, clock=clock))
    server.start()
    signer = KioskSigner(server.url, TEST_KIOSK, TEST_TMK)
    signer.sign_on()
    env = CardEnv(server.url, settings, engine, signer, CardKiosk(signer), server, clock)
    try:
        yield env
    finally:
        signer.close()
        if getattr(server, "bank", None) is not None:
            server.bank.stop()
        server.stop()
        engine.dispose()


@pytest.fixture(name="cards_link")
def cards_link_fixture(cards: CardEnv) -> Terminal:
    """The card-centre host's ISO 8583 front-end and the test kiosk's terminal on
    it, signed on (TEST_TMK): bill payments by bank card go there."""
    start_front_end(cards.server, cards.settings, cards.engine, cards.clock)
    terminal = Terminal(cards.server.bank_port, tmk=TEST_TMK)
    assert terminal.sign_on().message.fields[39] == "00"
    return terminal


def check_money(before: dict[str, int], after: dict[str, int]) -> None:
    """money_totals' invariants (host/bank/journal.py): nothing made or lost, and
    the books agree to the fen."""
    assert after["total_fen"] == before["total_fen"]
    bank_side = ("bank_balances_fen", "journal_net_fen", "wallet_net_fen", "meter_bank_net_fen")
    assert sum(after[k] for k in bank_side) == sum(before[k] for k in bank_side)
    wallets = ("cards_fen", "loads_in_flight_fen", "wallet_ledger_fen", "meter_wallet_fen")
    assert after["wallet_net_fen"] - before["wallet_net_fen"] == \
        sum(after[k] for k in wallets) - sum(before[k] for k in wallets)
    for totals in (before, after):
        assert totals["total_fen"] == totals["bank_balances_fen"] + sum(totals[k] for k in wallets) + \
            totals["ledger_fen"] + totals["meter_bank_net_fen"]
        assert totals["journal_net_fen"] == totals["ledger_fen"]
        assert totals["meter_by_card_fen"] == totals["meter_bank_net_fen"]
        assert totals["meter_sales_fen"] == totals["meter_bank_net_fen"] + totals["meter_wallet_fen"]
        assert totals["ledger_fen"] - totals["ledger_late_fee_fen"] == totals["bills_paid_by_card_fen"]
        assert totals["wallet_ledger_fen"] - totals["wallet_ledger_late_fee_fen"] == \
            totals["bills_paid_by_wallet_fen"]
    assert after["bills_paid_fen"] - before["bills_paid_fen"] == \
        (after["bills_paid_by_card_fen"] - before["bills_paid_by_card_fen"]) + \
        (after["bills_paid_by_wallet_fen"] - before["bills_paid_by_wallet_fen"])

