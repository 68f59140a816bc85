"""Helpers shared by the host tests: a test host config, its kiosks and keys, the bank environment."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from host.bank import money_totals
from host.bank.card_vault import pan_hash
from common.demo_cards import load_test_cards
from host.billing import household_bill
from host.config import HostSettings
from host.schema.bank import bank_accounts
from host.schema.metadata import metadata
from tests.support.signing import KioskSigner, SignedReply  # noqa: F401  (re-exported for the tests)

SEED_TODAY = date(2026, 11, 21)   # "today" of the shared seeded estate

# The tariffs and the reference bank's keys of every test host config (the fleet's too).
TARIFFS_AND_BANK = """
[tariffs.water]
tiers = [{up_to = 15, price = "5.00"}, {up_to = 22, price = "7.00"}, {price = "9.00"}]

[tariffs.electricity]
tiers = [{up_to = 180, price = "0.4883"}, {up_to = 350, price = "0.5383"}, {price = "0.7883"}]

[tariffs.gas]
tiers = [{price = "2.63"}]

[tariffs.property]
price_per_m2 = "2.50"

[bank]
pan_key = "9A45AD3DEDE95CBC6DB64025F0A28B76"
pan_hash_key = "8BC1067605DC5CD5CAF7BD294B1C6A0F"
pvk = "2DEEC67FDA59090B0075A2751B9B8924"
"""

TEST_HOST_TOML = """
demo = true                 # the test fixtures' keys are published: demo only
[host]
estate_name = "翠湖花园"
listen_port = 0

[billing]
due_days = 30

[late_fee]
daily_rate = "0.0005"
""" + TARIFFS_AND_BANK + """
[kiosks."KIOSK-TEST-01"]
tmk = "0123456789ABCDEFFEDCBA9876543210"

[kiosks."KIOSK-TEST-02"]
tmk = "F1E2D3C4B5A69788796A5B4C3D2E1F00"
"""

TEST_KIOSK = "KIOSK-TEST-01"
TEST_TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
OTHER_KIOSK = "KIOSK-TEST-02"
OTHER_TMK = bytes.fromhex("F1E2D3C4B5A69788796A5B4C3D2E1F00")


def build_bank_template(url: str) -> None:
    """The seeded estate of the bank tests and tests/host's `seeded` (TEST_HOST_TOML,
    2,000 households, bank accounts, kiosks, as of SEED_TODAY): the template
    "bank" of tests/support/databases.py, built once per backend and session."""
    from host.config import load_host_settings
    from host.db import make_engine
    from host.schema import create_tables
    from host.seed import seed_demo
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "host.toml").write_text(TEST_HOST_TOML, encoding="utf-8")
        settings = load_host_settings(Path(folder) / "host.toml")
        engine = make_engine(url)
        create_tables(engine)
        seed_demo(engine, settings, 2000, today=SEED_TODAY)
        engine.dispose()          # SQLite: checkpoints the WAL; PostgreSQL: a template has no one connected


def write_csv(path: Path, lines: list[str], header: str = "period,house_no,utility,reading") -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every host table: to prove a refused import changed nothing."""
    with engine.connect() as conn:
        return {t.name: sorted(conn.execute(select(t)).all(), key=repr) for t in metadata.sorted_tables}


@dataclass
class BankEnv:
    """A running host on loopback with its own database, and a kiosk (not yet signed on)."""
    url: str
    settings: HostSettings
    engine: Engine
    kiosk: KioskSigner

    def totals(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return money_totals(conn)

    def bill(self, house_no: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return household_bill(conn, house_no, SEED_TODAY, self.settings)

    def account(self, pan: str) -> Any:
        """The card's account row, found as the bank finds it: by the PAN's keyed hash."""
        with self.engine.connect() as conn:
            return conn.execute(select(bank_accounts).where(
                bank_accounts.c.pan_hash == pan_hash(self.settings.bank_keys(), pan))).one()

    def dump(self) -> dict[str, list[tuple[object, ...]]]:
        return dump(self.engine)

    def signer(self, kiosk_id: str, tmk: bytes) -> KioskSigner:
        return KioskSigner(self.url, kiosk_id, tmk)


CARDS = {card.pan: card for card in load_test_cards().cards}
GOOD = CARDS["6222021000000000017"]       # ICBC, ¥5,000.00, PIN 123456
LOW = CARDS["6217002000000002"]           # CCB, ¥50.00
EXPIRED = CARDS["6228483000000001"]       # ABC, expired 2312
BLOCKED = CARDS["6258004000000008"]       # CMB, blocked
LIMITED = CARDS["6214835000000008"]       # CITIC, daily limit ¥500.00


def check_invariants(before: dict[str, int], after: dict[str, int]) -> None:
    """Money is moved, never made or lost, and the books agree to the fen."""
    assert after["bank_balances_fen"] + after["journal_net_fen"] == \
        before["bank_balances_fen"] + before["journal_net_fen"]
    for totals in (before, after):
        assert totals["journal_net_fen"] == totals["ledger_fen"]
        assert totals["ledger_fen"] - totals["ledger_late_fee_fen"] == totals["bills_paid_by_card_fen"]
    assert after["bills_paid_fen"] - before["bills_paid_fen"] == \
        after["bills_paid_by_card_fen"] - before["bills_paid_by_card_fen"]
