"""The console's one-card blacklist (docs/console.md "One-card blacklist"):
the page lists the households and their cards, the CSV for the door-access
system has UID, house number and since when (formula-safe cells), viewers may
see and export it, and each export is audited."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta

import pytest

from common.clock import ManualClock
from host.console.onecard_blacklist import blacklist_csv
from host.onecard.blacklist import run_refresh
from host.unpaid_fees import Listing, listings
from tests.support.clocks import TODAY
from tests.support.console_env import ConsoleHost
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)


def test_viewers_see_the_list_and_export_it_for_the_doors(console_host: ConsoleHost) -> None:
    # a month on, the console's estate has one-cards listed (its template paid some of the seed's bills)
    refreshed = run_refresh(console_host.engine, console_host.settings, ManualClock(datetime.combine(TODAY + timedelta(days=30), time(8))))
    with console_host.engine.connect() as conn:
        carded = [r for r in listings(conn) if r.uids]
    assert refreshed.households > 0 and carded
    client = console_host.staff("look")
    page = client.get("/console/onecard-blacklist")
    assert page.status_code == 200
    for r in carded:
        assert r.house_no in page.text and " ".join(r.uids) in page.text and r.since.isoformat() in page.text
    assert f"{refreshed.households} " in page.text
    reply = client.get("/console/onecard-blacklist.csv")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in reply.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert rows == [{"uid": uid, "house_no": r.house_no, "since": r.since.isoformat()}
                    for r in carded for uid in r.uids]
    assert len(rows) == refreshed.cards           # one line per listed card, not per household
    [entry] = console_host.audit("export")
    assert entry.target == "onecard-blacklist.csv" and entry.username == "look"


def test_signed_out_staff_are_sent_to_sign_in(console_host: ConsoleHost) -> None:
    client = console_host.staff()
    reply = client.get("/console/onecard-blacklist.csv")
    assert reply.status_code == 303 and "/console/login" in reply.headers["location"]
    assert console_host.audit("export") == []


def test_the_csv_cells_are_formula_safe() -> None:
    listing = Listing(1, "=HYPERLINK(1)", date(2026, 10, 1), 100, datetime(2026, 11, 21), ("B1C20002", "@SUM(A1)"))
    text = blacklist_csv([listing])
    assert text.splitlines() == ["uid,house_no,since", "B1C20002,'=HYPERLINK(1),2026-10-01",
                                 "'@SUM(A1),'=HYPERLINK(1),2026-10-01"]
