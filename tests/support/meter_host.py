"""The vending host's tests' shared pieces: a running host whose config has
[meters] (the demo masters, as the virtual cards and the simulated meter use)
and [prepaid_tariffs.*], its demo meters seeded, a signed-on kiosk speaking the
meter messages, and a kiosk-side sale over the terminal (the kiosk holds no
meter key: the host answers the write MAC)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from common.meter_card import Utility
from host.app import create_app
from host.config import load_host_settings
from host.db import make_engine, write_transaction
from host.meters.store import seed_meters
from host.schema.bank import bank_accounts
from host.schema.cards import ic_cards
from host.schema.meters import meter_sales
from host.server import HostServer
from kiosk.cards.meter import MeterCard
from kiosk.devices.sim.meter import SimulatedMeter
from kiosk.devices.sim.meter_card import VirtualMeterCard
from common.clock import ManualClock
from tests.support.clocks import running_from
from tests.support.host_env import GOOD, OTHER_KIOSK, OTHER_TMK, SEED_TODAY, TEST_HOST_TOML, TEST_KIOSK, TEST_TMK, \
    BankEnv
from tests.support.card_centre import CARD_CENTRE_TOML
from tests.support.meters import Direct
from tests.support.signing import KioskSigner, SignedReply

METER = "310100012345"        # electricity, 1-1-101 (host.meters.store.DEMO_METERS)
WATER = "320100054321"
METERS_TOML = """
[meters]
mkp = "6E1B94C2A7305DF8B1E4097A3C2D5F61"
mkr = "29D5A0E7C36B184F5A2E9C0B7D4F1386"
mku = "B3087F4D1EA9C6250D7B3E8A4F91C26E"

[prepaid_tariffs.electricity]
hoarding_max = "2000"
tiers = [{ up_to = 2880, price = "0.4883" }, { up_to = 4800, price = "0.5383" }, { price = "0.7883" }]

[prepaid_tariffs.water]
hoarding_max = "60"
tiers = [{ up_to = 180, price = "5.00" }, { price = "7.00" }]

[prepaid_tariffs.gas]
hoarding_max = "500"
tiers = [{ price = "2.63" }]
"""


@dataclass
class MeterKiosk:
    signer: KioskSigner

    def post(self, path: str, fields: dict[str, Any]) -> SignedReply:
        reply = self.signer.post(f"/api/v1/meters/{path}", fields)
        assert reply.mac_ok, reply.body
        return reply

    def check(self, card: VirtualMeterCard, **fields: Any) -> dict[str, Any]:
        reply = self.post("check", {"ef01": card.ef01().hex(), "ef02": card.ef02().hex(), "meter": card.meter, **fields})
        assert reply.status == 200, reply.body
        return dict(reply.json)

    def authorise(self, sale_id: str, amount_fen: int, pin: str | None = None) -> SignedReply:
        return self.post("authorise", {"sale_id": sale_id, "amount_fen": amount_fen, "pan": GOOD.pan,
                                       "track2": GOOD.track2, "expiry": GOOD.expiry,
                                       "pin_block": self.signer.pin_block(pin or GOOD.pin, GOOD.pan)})

    def signer_for(self, sale_id: str) -> Any:
        """The WriteSigner the kiosk hands its terminal: the host's sign-write."""
        def sign(challenge: bytes, image: bytes) -> bytes:
            reply = self.post("sign-write", {"sale_id": sale_id, "challenge": challenge.hex()})
            assert reply.status == 200, reply.body
            return bytes.fromhex(reply.json["mac"])
        return sign

    def write(self, card: VirtualMeterCard, sale_id: str, image: str) -> None:
        terminal = MeterCard(Direct(card))
        terminal.select()
        terminal.write_purchase(bytes.fromhex(image), self.signer_for(sale_id))

    def buy(self, card: VirtualMeterCard, sale_id: str, quantity: int) -> dict[str, Any]:
        """check with a quote -> authorise (bank card) -> write -> confirm."""
        quote = self.check(card, quantity=quantity, sale_id=sale_id)
        assert quote["result"] == "ok", quote
        paid = self.authorise(sale_id, quote["quote"]["amount_fen"])
        assert paid.status == 200 and paid.json["result"] == "approved", paid.body
        self.write(card, sale_id, paid.json["image"])
        done = self.post("confirm", {"sale_id": sale_id, "ef01": card.ef01().hex()})
        assert done.json == {"sale_id": sale_id, "status": "confirmed"}
        return dict(paid.json)


@dataclass
class MeterEnv(BankEnv):
    meters: MeterKiosk
    other: MeterKiosk

    def sales_fen(self) -> int:
        """What the host holds for meter sales paid and not reversed."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.sum(meter_sales.c.amount_fen), 0))
                                    .where(meter_sales.c.state.in_(("paid", "written", "confirmed"))))
                       .scalar_one())

    def bank_fen(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.sum(bank_accounts.c.balance_fen))).scalar_one())

    def mirror_ed(self, serial: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(ic_cards.c.ed_fen).where(ic_cards.c.serial == serial)).scalar_one())

    def sale(self, sale_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(meter_sales).where(meter_sales.c.sale_id == sale_id)).one()


def new_card(meter: str = METER, utility: Utility = Utility.ELECTRICITY) -> VirtualMeterCard:
    return VirtualMeterCard.create(None, meter=meter, utility=utility)


def new_meter(meter: str = METER, utility: Utility = Utility.ELECTRICITY) -> SimulatedMeter:
    return SimulatedMeter.create(meter, utility, maximum=200000, low_credit=5000,
                                 clock=ManualClock(datetime(2026, 11, 21, 18, 0)))


@pytest.fixture(name="vending")
def vending_fixture(bank_url: str, tmp_path: Path) -> Iterator[MeterEnv]:
    path = tmp_path / "host-meters.toml"
    path.write_text(TEST_HOST_TOML + METERS_TOML + CARD_CENTRE_TOML, encoding="utf-8")
    settings = load_host_settings(path)
    engine = make_engine(bank_url)
    assert settings.meters is not None
    with write_transaction(engine) as conn:
        seed_meters(conn, {t.utility: t.hoarding_max for t in settings.meters.tariffs}, datetime(2026, 11, 21, 8))
    server = HostServer(create_app(settings, engine, clock=running_from(SEED_TODAY)))
    server.start()
    signer, other = KioskSigner(server.url, TEST_KIOSK, TEST_TMK), KioskSigner(server.url, OTHER_KIOSK, OTHER_TMK)
    signer.sign_on()
    other.sign_on()
    env = MeterEnv(server.url, settings, engine, signer, MeterKiosk(signer), MeterKiosk(other))
    try:
        yield env
    finally:
        signer.close()
        other.close()
        server.stop()
        engine.dispose()
