"""The unpaid-fee blacklist in the host (docs/onecard.md "Unpaid-fee
blacklist"): a household whose property fee is unpaid more than N days after
its due date is listed with its one-cards; a payment lifts the listing in its
own transaction (a reversal restores it); kiosks get the changes since a
version; the signed routes. The seeded estate (billed for the three months
before TODAY): 3-2-1202 (the bench's black card B1C20002) owes the first
month's bill; 2-2-902 owes the second's; 2-1-601 owes only the third's. Every
date here is derived from TODAY, the seed's day (tests.support.clocks)."""
from __future__ import annotations

import dataclasses
import tomllib
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from common.clock import ManualClock
from common.onecard import DEMO_MAP
from common.onecard_delivery import open_delivery
from common.onecard_keys import DEMO_ONECARD_KEYS, sector_keys
from host.billing import due_date, pay_bills, period_of, shift_period, unpay_bills
from host.config import HostSettings, load_host_settings
from host.config.onecard import OneCardSettings
from host.db import make_engine, write_transaction
from host.onecard.blacklist import run_refresh
from host.schema.estate import bills, households
from host.schema.onecard import onecards
from host.unpaid_fees import blacklist_since, listings
from tests.support.clocks import INSTANTS, TODAY
from tests.support.databases import BACKENDS
from tests.support.host_env import TEST_HOST_TOML
from tests.support.onecard_host import BLACK, FUNDED, ROLLED_BACK, OneCardEnv

pytestmark = pytest.mark.backends(*BACKENDS)

# the seed bills the three complete months before TODAY (host.seed)
FIRST, SECOND, THIRD = (shift_period(period_of(TODAY), -n) for n in (3, 2, 1))


# due dates as the host computes them, with the test host's [billing] due_days
TEST_BILLING = HostSettings(estate_name="test", due_days=tomllib.loads(TEST_HOST_TOML)["billing"]["due_days"])
FIRST_DUE, SECOND_DUE = (due_date(p, TEST_BILLING) for p in (FIRST, SECOND))


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute))


@pytest.fixture(name="settings")
def settings_fixture(tmp_path: Path) -> HostSettings:
    path = tmp_path / "host.toml"
    path.write_text(TEST_HOST_TOML, encoding="utf-8")
    return load_host_settings(path)


def _with(settings: HostSettings, days: int) -> HostSettings:
    return dataclasses.replace(settings, onecard=OneCardSettings(unpaid_days=days))


def _black(engine: object, uid: str) -> bool:
    with engine.connect() as conn:   # type: ignore[attr-defined]
        return bool(conn.execute(select(onecards.c.black).where(onecards.c.uid == uid)).scalar_one())


def _household(conn: object, house_no: str) -> int:
    return int(conn.execute(select(households.c.id).where(households.c.house_no == house_no)).scalar_one())  # type: ignore[attr-defined]


@pytest.mark.parametrize("instant", sorted(INSTANTS), ids=str)
def test_a_household_is_listed_only_more_than_n_days_after_the_due_date(bank_url: str, settings: HostSettings,
                                                                        instant: str) -> None:
    """At each awkward instant, N chosen so the August bill is exactly N days
    overdue (not listed), then N - 1 (listed: more than N)."""
    engine = make_engine(bank_url)
    at = INSTANTS[instant]
    clock = ManualClock(at)
    days = (at.date() - FIRST_DUE).days
    try:
        exactly = run_refresh(engine, _with(settings, days), clock)
        assert not _black(engine, BLACK.uid) and exactly.version == 1     # the seed's flag lifted: version 1
        more = run_refresh(engine, _with(settings, days - 1), clock)
        assert _black(engine, BLACK.uid) and more.as_of == at.date() and more.unpaid_days == days - 1
        with engine.connect() as conn:
            [listing] = [r for r in listings(conn) if r.house_no == BLACK.house_no]
        assert (listing.since, listing.uids) == (FIRST_DUE, (BLACK.uid,))
        # the property fee lines of every unpaid bill due before the cut-off, to the fen
        assert listing.amount_fen > 0 and listing.listed_at == at
    finally:
        engine.dispose()


def test_the_seeded_estate_with_thirty_days(bank_url: str, settings: HostSettings) -> None:
    engine = make_engine(bank_url)
    try:
        r = run_refresh(engine, settings, ManualClock(_at(TODAY, 8)))
        assert settings.onecard.unpaid_days == 30
        assert _black(engine, BLACK.uid) and not _black(engine, ROLLED_BACK.uid) and not _black(engine, FUNDED.uid)
        assert r.changes == 1 and r.cards == 1    # B1C20002 now carries its reason (house, since, amount)
        # 31 days after the second month's due date 2-2-902 is listed, and 3-2-1202's
        # amount grows (a change of its reason is a version too)
        later = run_refresh(engine, settings, ManualClock(_at(SECOND_DUE + timedelta(days=31), 8)))
        assert _black(engine, ROLLED_BACK.uid) and later.changes == 2 and later.version == r.version + 2
        again = run_refresh(engine, settings, ManualClock(_at(SECOND_DUE + timedelta(days=31), 9)))
        assert again.changes == 0 and again.version == later.version      # nothing changed: no version
    finally:
        engine.dispose()


def test_a_payment_lifts_the_listing_at_once_and_a_reversal_restores_it(bank_url: str,
                                                                         settings: HostSettings) -> None:
    engine = make_engine(bank_url)
    clock = ManualClock(_at(TODAY, 8))
    try:
        first = run_refresh(engine, settings, clock)
        paid_at = _at(TODAY, 14, 5)
        with write_transaction(engine) as conn:
            hid = _household(conn, BLACK.house_no)
            periods = [p for (p,) in conn.execute(select(bills.c.period).where(
                bills.c.household_id == hid, bills.c.paid_at.is_(None)).order_by(bills.c.period))]
            assert pay_bills(conn, hid, periods, reference="PAY-BL-1", paid_at=paid_at) == 3
            assert not bool(conn.execute(select(onecards.c.black).where(onecards.c.uid == BLACK.uid)).scalar())
        with engine.connect() as conn:
            assert BLACK.house_no not in [r.house_no for r in listings(conn)]
            assert blacklist_since(conn, first.version) == {"version": first.version + 1, "changes": [
                {"uid": BLACK.uid, "listed": False, "house_no": None, "since": None, "amount_fen": None}]}
        with write_transaction(engine) as conn:
            assert unpay_bills(conn, hid, "PAY-BL-1", at=paid_at + timedelta(minutes=5)) == 3
        assert _black(engine, BLACK.uid)
        with engine.connect() as conn:
            changes = blacklist_since(conn, first.version + 1)["changes"]
        assert [(c["uid"], c["listed"], c["since"]) for c in changes] == [(BLACK.uid, True, FIRST_DUE.isoformat())]
    finally:
        engine.dispose()


def test_a_payment_of_part_of_the_arrears_keeps_the_listing_with_the_new_amount(bank_url: str,
                                                                                 settings: HostSettings) -> None:
    engine = make_engine(bank_url)
    try:
        first = run_refresh(engine, _with(settings, 0), ManualClock(_at(TODAY, 8)))
        with engine.connect() as conn:
            [before] = [r for r in listings(conn) if r.house_no == BLACK.house_no]
        with write_transaction(engine) as conn:
            pay_bills(conn, _household(conn, BLACK.house_no), [FIRST], reference="PAY-BL-2",
                      paid_at=_at(TODAY, 9))
        with engine.connect() as conn:
            [after] = [r for r in listings(conn) if r.house_no == BLACK.house_no]
            [change] = blacklist_since(conn, first.version)["changes"]
        assert _black(engine, BLACK.uid) and after.since == SECOND_DUE and after.amount_fen < before.amount_fen
        assert change == {"uid": BLACK.uid, "listed": True, "house_no": BLACK.house_no,
                          "since": SECOND_DUE.isoformat(), "amount_fen": after.amount_fen}
    finally:
        engine.dispose()


def test_versions_are_incremental_each_card_once_with_its_latest_state(bank_url: str,
                                                                        settings: HostSettings) -> None:
    engine = make_engine(bank_url)
    try:
        run_refresh(engine, settings, ManualClock(_at(TODAY, 8)))                  # v1: BLACK
        run_refresh(engine, settings, ManualClock(_at(SECOND_DUE + timedelta(days=32), 8)))   # v2, v3: BLACK's amount, ROLLED_BACK
        with write_transaction(engine) as conn:                                                    # v4: BLACK lifted
            hid = _household(conn, BLACK.house_no)
            pay_bills(conn, hid, [FIRST, SECOND, THIRD], reference="PAY-BL-3",
                      paid_at=_at(SECOND_DUE + timedelta(days=32), 9))
        with engine.connect() as conn:
            everything = blacklist_since(conn, 0)
            after_three = blacklist_since(conn, 3)
            up_to_date = blacklist_since(conn, 4)
        assert everything["version"] == 4
        assert [(c["uid"], c["listed"]) for c in everything["changes"]] == [(ROLLED_BACK.uid, True), (BLACK.uid, False)]
        assert [(c["uid"], c["listed"]) for c in after_three["changes"]] == [(BLACK.uid, False)]
        assert up_to_date == {"version": 4, "changes": []}
    finally:
        engine.dispose()


def test_the_signed_routes_blacklist_and_unblock(onecard_env: OneCardEnv) -> None:
    run_refresh(onecard_env.engine, onecard_env.settings, ManualClock(_at(TODAY, 8)))
    kiosk = onecard_env.onecard
    reply = kiosk.post("blacklist", {"since": 0})
    assert reply.status == 200 and reply.mac_ok
    [change] = reply.json["changes"]
    assert change["uid"] == BLACK.uid and change["listed"] and change["since"] == FIRST_DUE.isoformat()
    assert kiosk.post("blacklist", {"since": -1}).status == 400
    assert kiosk.post("blacklist", {"since": "1"}).status == 400
    refused = kiosk.post("unblock", {"uid": BLACK.uid})
    assert refused.json == {"uid": BLACK.uid, "result": "declined", "code": "card_blacklisted"}
    assert kiosk.post("unblock", {"uid": "00000000"}).json["code"] == "unknown_onecard"
    assert kiosk.post("unblock", {"uid": "xyz"}).status == 400
    granted = kiosk.post("unblock", {"uid": FUNDED.uid})
    assert granted.status == 200 and granted.json["result"] == "keys"
    keys = open_delivery(kiosk.signer.tmk, granted.json["keys"])
    wanted = sector_keys(DEMO_ONECARD_KEYS, bytes.fromhex(FUNDED.uid), DEMO_MAP.public_info)
    assert list(keys) == [DEMO_MAP.public_info] and keys[DEMO_MAP.public_info].a == wanted.a
    assert not any(keys[DEMO_MAP.public_info].b)        # never key B


def test_the_daily_run_from_the_command_line(bank_url: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from host import cli
    path = tmp_path / "host.toml"
    path.write_text(TEST_HOST_TOML + "\n[onecard]\nunpaid_days = 30\n", encoding="utf-8")
    clock = ManualClock(_at(TODAY, 8))
    assert cli.onecard(path, "blacklist", db_override=bank_url, what="refresh", clock=clock) == 0
    assert f"as of {TODAY} (unpaid more than 30 days after the due date)" in capsys.readouterr().out
    assert cli.onecard(path, "blacklist", db_override=bank_url, what="show", clock=clock) == 0
    shown = capsys.readouterr().out
    assert f"{BLACK.house_no:10}  {FIRST_DUE}" in shown and BLACK.uid in shown
    path.write_text(TEST_HOST_TOML + "\n[onecard]\nunpaid_days = -1\n", encoding="utf-8")
    assert cli.onecard(path, "blacklist", db_override=bank_url, what="refresh", clock=clock) == 2
    assert "unpaid_days" in capsys.readouterr().err
