"""Test helpers for the one-card in the host (docs/onecard.md "The host"): the
bench's one-cards as virtual cards, a kiosk that reads them through the purse
with the keys the host delivers and sends the one-card messages signed
(KioskSigner), a fixture with a running host whose [card_centre] holds the
one-card's master keys, and the money figures to add up."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from common.onecard import DEMO_MAP, KeyType, SessionKeys, TxnType
from common.onecard_blocks import CardStatus, decode_value
from common.onecard_delivery import open_delivery
from common.onecard_keys import DEMO_ONECARD_KEYS, sector_keys
from host.app import create_app
from host.config import load_host_settings
from host.db import make_engine
from host.onecard.registry import DEMO_ONECARDS, DemoOneCard, onecard_totals
from host.schema.onecard import onecard_flags, onecard_txns, onecards
from host.server import HostServer
from kiosk.cards.mifare import MifareClassic
from kiosk.cards.mifare_purse import OneCardPurse, Presentation, PurseResult
from kiosk.devices.sim.m1_card import VirtualM1Card
from kiosk.devices.sim.m1_card_data import OneCardProfile
from tests.support.card_centre import CARD_CENTRE_TOML, host_toml_with_cards
from tests.support.clocks import running_from
from tests.support.host_env import GOOD, SEED_TODAY, TEST_KIOSK, TEST_TMK, BankEnv
from tests.support.onecard import Direct
from tests.support.signing import KioskSigner, SignedReply

FUNDED, BLACK, ROLLED_BACK = DEMO_ONECARDS
SEED_WHEN = datetime.combine(SEED_TODAY, time(10, 15))
TERMINAL = bytes.fromhex("000000000101")
ONECARD_TOML = CARD_CENTRE_TOML + """mka = "8A2F0C6B51D3E7940F6E2A1C9B4D7385"
mkb = "3C91E5A07B2D48F6A1093D5E7C6B2F18"
mki = "D47A1E9C0B6F2853E9A4C17D305B8E26"
"""


def virtual(demo: DemoOneCard, folder: Path | None = None, **changes: Any) -> VirtualM1Card:
    """The bench's card for a demo one-card (its own figures: the rolled-back one's differ)."""
    balance, count = demo.on_card
    profile = OneCardProfile(uid=bytes.fromhex(demo.uid), issued=demo.issued, expiry=demo.expiry, balance=balance,
                             serial=demo.serial, house=demo.house_no, holder=demo.holder,
                             black=0x04 if demo.black else 0, count=count)
    return VirtualM1Card.create(folder, dataclasses.replace(profile, **changes))


def all_sector_keys_hex(uid: str) -> set[str]:
    """Every sector key of the card, hex: none may appear in a message body."""
    found = set()
    for sector in range(16):
        pair = sector_keys(DEMO_ONECARD_KEYS, bytes.fromhex(uid), sector)
        found |= {pair.a.hex().upper(), pair.b.hex().upper()}
    return found - {"A0A1A2A3A4A5"}    # sector 0's key A is public


@dataclass
class OneCardKiosk:
    """A kiosk's one-card side over signed messages: the purse on the card in
    the test's process, handed only the keys the host delivered."""
    signer: KioskSigner
    bodies: list[bytes] = field(default_factory=list)       # every request and reply body, as sent

    def post(self, path: str, fields: dict[str, Any], **kw: Any) -> SignedReply:
        raw = self.signer.body(fields, **kw)
        reply = self.signer.send(f"/api/v1/onecard/{path}", raw, self.signer.mak)
        self.bodies += [raw, reply.body]
        return reply

    def keys(self, uid: str) -> dict[int, Any]:
        reply = self.post("keys", {"uid": uid})
        assert reply.status == 200 and reply.mac_ok and reply.json["result"] == "keys", reply.body
        return open_delivery(self.signer.tmk, reply.json["keys"])

    def present(self, card: VirtualM1Card, **override: Any) -> tuple[SignedReply, Presentation, OneCardPurse]:
        uid = card.serial
        ring = dict(self.keys(uid))
        purse = OneCardPurse(MifareClassic(Direct(card)), _Ring(bytes.fromhex(uid), ring))
        p = purse.present(TERMINAL, SEED_WHEN)
        mifare = MifareClassic(Direct(card))
        mifare.login(DEMO_MAP.issuance_block, KeyType.A, ring[DEMO_MAP.issuance].a)
        fields = {"uid": uid, "block4": mifare.read(4).hex().upper(), "block5": mifare.read(5).hex().upper(),
                  "balance_fen": p.balance or 0, "count": p.info.count if p.info else 0,
                  "black": p.info.black if p.info else 0,
                  "purse_refused": p.recovery.reason if p.refused and p.recovery else None, **override}
        return self.post("present", fields), p, purse

    def authorise(self, txn_id: str, uid: str, kind: str, amount: int, balance: int, count: int,
                  **extra: Any) -> SignedReply:
        if kind == "load" and "pan" not in extra:
            extra = {"pan": GOOD.pan, "track2": GOOD.track2, "expiry": GOOD.expiry,
                     "pin_block": self.signer.pin_block(GOOD.pin, GOOD.pan), **extra}
        return self.post("authorise", {"txn_id": txn_id, "uid": uid, "kind": kind, "amount_fen": amount,
                                       "balance_fen": balance, "count": count, **extra})

    def write(self, purse: OneCardPurse, p: Presentation, reply: SignedReply, kind: str,
              amount: int) -> PurseResult:
        """Steps 3–7 with the keys of the approval added to the presentation's."""
        ring = purse._keys    # noqa: SLF001 - the test's own ring (_Ring)
        assert isinstance(ring, _Ring)
        ring.add(open_delivery(self.signer.tmk, reply.json["keys"]))
        txn_type = TxnType.LOAD if kind == "load" else TxnType.BILL_PAYMENT
        apply = purse.credit if txn_type.is_credit else purse.debit
        return apply(p, amount, txn_type, TERMINAL, SEED_WHEN)

    def confirm(self, txn_id: str, uid: str, balance: int, count: int) -> SignedReply:
        return self.post("confirm", {"txn_id": txn_id, "uid": uid, "balance_fen": balance, "count": count})

    def cancel(self, txn_id: str, reason: str = "card did not apply it") -> SignedReply:
        return self.post("cancel", {"txn_id": txn_id, "reason": reason})


class _Ring(SessionKeys):
    def add(self, keys: dict[int, Any]) -> None:
        for sector, pair in keys.items():
            held = self._keys.get(sector)
            self._keys[sector] = pair if held is None else dataclasses.replace(
                held, b=pair.b if any(pair.b) else held.b)


@dataclass
class OneCardEnv(BankEnv):
    onecard: OneCardKiosk

    def card_row(self, uid: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(onecards).where(onecards.c.uid == uid)).one()

    def txn(self, txn_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(onecard_txns).where(onecard_txns.c.txn_id == txn_id)).one()

    def flags(self, uid: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(onecard_flags).where(onecard_flags.c.uid == uid)))

    def money(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {**onecard_totals(conn), **self.totals()}

    def set_card(self, uid: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(onecards.update().where(onecards.c.uid == uid).values(**values))


def world(env: OneCardEnv, cards: list[VirtualM1Card]) -> int:
    """Every fen the one-card touches: bank accounts, one-card loads in flight,
    the property ledger (bank cards and one-cards), and what the cards hold."""
    m = env.money()
    return m["bank_balances_fen"] + m["onecard_loads_in_flight_fen"] + m["onecard_ledger_fen"] + sum(
        purse(c) for c in cards)


def purse(card: VirtualM1Card) -> int:
    """What the card's purse holds (block 8)."""
    return decode_value(card.block(DEMO_MAP.purse_block))[0]


@pytest.fixture(name="onecard_env")
def onecard_env_fixture(bank_url: str, tmp_path: Path) -> Iterator[OneCardEnv]:
    """A running host on a private copy of the seeded estate (with the demo
    one-cards) on the test's backend, the one-card master keys in its
    [card_centre], and a signed-on kiosk."""
    settings = load_host_settings(host_toml_with_cards(tmp_path, ONECARD_TOML))
    engine = make_engine(bank_url)
    server = HostServer(create_app(settings, engine, clock=running_from(SEED_TODAY)))
    server.start()
    signer = KioskSigner(server.url, TEST_KIOSK, TEST_TMK)
    signer.sign_on()
    env = OneCardEnv(server.url, settings, engine, signer, OneCardKiosk(signer))
    try:
        yield env
    finally:
        signer.close()
        server.stop()
        engine.dispose()


__all__ = ["BLACK", "CardStatus", "FUNDED", "ROLLED_BACK", "OneCardEnv", "all_sector_keys_hex", "virtual", "world"]
