"""The bank side's set-up: the kiosk fleet in the host config, accounts and
kiosks from the seed, the payment path's dues == the bill lookup's total,
concurrent kiosks, and no card data in the logs."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from host.bank.card_vault import decrypt_pan, pan_hash, pin_matches
from common.demo_cards import load_test_cards
from host.billing import dues, household_bill, unpaid_periods
from host.config import DEMO_HOST_CONFIG, ConfigError, HostSettings, load_host_settings
from host.schema.bank import bank_accounts, kiosks, property_ledger
from host.schema.estate import households
from tests.support.host_env import (GOOD, SEED_TODAY, TEST_HOST_TOML)
from host.console.reconciliation import reconcile
from tests.support.bank8583 import copy_of, pay_bill
from tests.support.linked_host import Linked, linked_fixture  # noqa: F401  (the `linked` fixture)
from common.settings import CONFIG_DIR

from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL


def test_fleet_in_the_configs() -> None:
    demo = load_host_settings(DEMO_HOST_CONFIG)
    assert [k for k, _ in demo.kiosks] == ["KIOSK-DEMO-01"] and len(demo.tmk("KIOSK-DEMO-01") or b"") == 16
    with pytest.raises(ConfigError, match="placeholder"):     # the example cannot start until replaced
        load_host_settings(CONFIG_DIR / "host.site-example.toml")
    assert "REPLACE" in (CONFIG_DIR / "host.site-example.toml").read_text(encoding="utf-8")
    assert "DEMO" in DEMO_HOST_CONFIG.read_text(encoding="utf-8")
    assert demo.tmk("KIOSK-NOBODY") is None


@pytest.mark.parametrize("old,new,key,reason", [
    ('tmk = "0123456789ABCDEFFEDCBA9876543210"', 'tmk = "0123"', 'kiosks.KIOSK-TEST-01.tmk', "32 hex"),
    ('tmk = "0123456789ABCDEFFEDCBA9876543210"', 'tmk = "0123456789ABCDEF0123456789ABCDEF"',
     'kiosks.KIOSK-TEST-01.tmk', "degenerate"),
    ('tmk = "0123456789ABCDEFFEDCBA9876543210"', 'tmk = "0123456789ABCDEFFEDCBA9876543210"\npin = 1',
     'kiosks.KIOSK-TEST-01.pin', "unknown key"),
    ('[kiosks."KIOSK-TEST-01"]', '[kiosks."KIOSK TEST"]', 'kiosks.KIOSK TEST', "kiosk id"),
])
def test_bad_fleet_entries(tmp_path: Path, old: str, new: str, key: str, reason: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(TEST_HOST_TOML.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_host_settings(path)
    assert info.value.key == key and reason in str(info.value)


def test_seed_opens_the_test_card_accounts_and_registers_the_fleet(seeded: tuple[HostSettings, Engine]) -> None:
    settings, engine = seeded
    cards = load_test_cards().cards
    with engine.connect() as conn:
        accounts = {decrypt_pan(settings.bank_keys(), row.pan_enc): row for row in conn.execute(select(bank_accounts))}
        fleet = conn.execute(select(kiosks.c.kiosk_id, kiosks.c.last_counter, kiosks.c.key_version)).all()
    assert set(accounts) == {c.pan for c in cards}
    for card in cards:
        row = accounts[card.pan]
        assert (row.balance_fen, row.daily_limit_fen, row.status, row.expiry, row.pin_tries) == \
            (card.balance.fen, card.daily_limit.fen, card.status, card.expiry, 0)
        assert row.pan_hash == pan_hash(settings.bank_keys(), card.pan)
        assert card.pin != row.pin_offset and pin_matches(settings.bank_keys(), card.pan, row.pin_offset, card.pin)
        assert not pin_matches(settings.bank_keys(), card.pan, row.pin_offset, "000000")
    assert accounts[GOOD.pan].balance_fen == 500_000
    assert sorted(fleet) == [("KIOSK-TEST-01", 0, 0), ("KIOSK-TEST-02", 0, 0)]
    nonces = [row.pan_enc[:24] for row in accounts.values()]     # AES-GCM: a random nonce per account
    assert len(set(nonces)) == len(nonces)


def test_payment_dues_agree_with_the_bill_lookup(seeded: tuple[HostSettings, Engine]) -> None:
    settings, engine = seeded
    with engine.connect() as conn:
        for household_id, house_no in conn.execute(select(households.c.id, households.c.house_no)):
            bill = household_bill(conn, house_no, SEED_TODAY, settings)
            owed = dues(conn, household_id, SEED_TODAY, settings)
            assert (owed.total_due_fen, owed.late_fee_fen, list(owed.periods)) == \
                (bill["total_due_fen"], bill["late_fee_fen"], unpaid_periods(bill)), house_no


async def test_two_kiosks_paying_the_same_house_at_once(
        linked: Linked) -> None:
    """Two kiosks pay the same house at the same moment over the bank link: the
    bank approves both (it does not know the bills), the first copy books the
    bills, the second finds them paid and books nothing; the day's
    reconciliation shows the second payment, for staff to refund."""
    bank, second, terminals = linked
    signers = {"KIOSK001": bank.kiosk, "KIOSK002": second}
    before = bank.totals()
    houses = ["2-1-601", "2-2-902", "3-2-1202"]
    bills = {h: bank.bill(h) for h in houses}
    unbooked: list[str] = []
    for house in houses:
        replies = await asyncio.gather(*(asyncio.to_thread(pay_bill, t, house, bills[house], GOOD)
                                         for t in terminals))
        assert [r[39] for r in replies] == ["00", "00"], house
        for terminal, reply in zip(terminals, replies):
            copy = copy_of(reply, f"{terminal.terminal_id}-{house}", house, bills[house]["total_due_fen"])
            assert signers[terminal.terminal_id].backup(copy).json == {"stored": True}
        with bank.engine.connect() as conn:
            ledger = set(conn.scalars(select(property_ledger.c.reference)))
        booked = {str(r[37]).strip() for r in replies} & ledger
        assert len(booked) == 1, house
        unbooked += [str(r[37]).strip() for r in replies if str(r[37]).strip() not in booked]
    assert all(bank.bill(h)["total_due_fen"] == 0 for h in houses)
    after, paid = bank.totals(), sum(b["total_due_fen"] for b in bills.values())
    assert before["bank_balances_fen"] - after["bank_balances_fen"] == 2 * paid
    assert after["ledger_fen"] - before["ledger_fen"] == paid
    assert after["journal_net_fen"] - after["ledger_fen"] == paid     # the bank's side, the second payments
    differences = reconcile(bank.engine, SEED_TODAY).differences
    assert sorted((d.kind, d.reference) for d in differences) == sorted(("missing_in_ledger", rrn) for rrn in unbooked)


def test_no_card_data_in_the_logs(linked: Linked,
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bank, _, (terminal, _) = linked
    bill = bank.bill("3-2-1202")
    assert pay_bill(terminal, "3-2-1202", bill, GOOD)[39] == "00"
    assert pay_bill(terminal, "2-1-601", bank.bill("2-1-601"), GOOD, pin="999999")[39] == "55"
    assert bank.kiosk.backup({"txn_id": "T-3", "masked_pan": GOOD.pan}).status == 400
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert GOOD.pan not in text and GOOD.pin not in text
