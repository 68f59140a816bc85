"""Bank settlements on the console (docs/console.md "Settlement"): the kiosk
page shows the front-end's record (bank_link_settlements, joined to the kiosk
through its terminal's session), the fleet page a column and, for an
unbalanced settlement, an alert (from the kiosk's heartbeat); "settle now" is
an operator's command, audited and CSRF-protected. On SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import insert

from host.schema.bank import bank_link_sessions, bank_link_settlements
from tests.support.console_env import ConsoleHost
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)

BALANCED = {"batch": "000004", "balanced": True, "at": "2026-11-21T23:30:02", "debit_fen": 123456,
            "debit_count": 3, "credit_fen": 0, "credit_count": 0, "uploaded": 0, "trigger": "schedule"}
UNBALANCED = {**BALANCED, "batch": "000005", "balanced": False, "debit_count": 4, "debit_fen": 130000,
              "uploaded": 4}


def front_end_settled(host: ConsoleHost, kiosk_id: str, terminal: str, batch: str, *, balanced: bool,
                      at: datetime) -> None:
    """What the front-end writes for a terminal of `kiosk_id` (its session row, then the 0500's)."""
    with host.engine.begin() as conn:
        if not conn.execute(bank_link_sessions.select().where(
                bank_link_sessions.c.terminal_id == terminal)).first():
            conn.execute(insert(bank_link_sessions).values(terminal_id=terminal, kiosk_id=kiosk_id, key_version=1,
                                                           batch=batch))
        conn.execute(insert(bank_link_settlements).values(
            terminal_id=terminal, batch=batch, business_day=date(2026, 11, 21), at=at,
            kiosk_debit_fen=130000 if not balanced else 123456, kiosk_debit_count=4 if not balanced else 3,
            bank_debit_fen=123456, bank_debit_count=3, result="balanced" if balanced else "unbalanced",
            uploaded=None if balanced else 4, closed_at=at))


def test_the_kiosk_page_shows_the_front_ends_last_settlement(console_host: ConsoleHost) -> None:
    console_host.kiosk("KIOSK-A").heartbeat()
    viewer = console_host.staff("look")
    page = viewer.get("/console/kiosks/KIOSK-A").text
    assert "银行结算" in page and "银行尚无该终端的结算记录" in page
    assert 'id="settle-now"' not in page                          # a viewer sends no command

    front_end_settled(console_host, "KIOSK-A", "TERM000A", "000004", balanced=True, at=datetime(2026, 11, 20, 23, 30))
    front_end_settled(console_host, "KIOSK-A", "TERM000A", "000005", balanced=False,
                      at=datetime(2026, 11, 21, 23, 30, 2))
    front_end_settled(console_host, "KIOSK-B", "TERM000B", "000009", balanced=True, at=datetime(2026, 11, 22, 1, 0))
    page = viewer.get("/console/kiosks/KIOSK-A").text
    assert "批次 000005" in page and "不平" in page and "2026-11-21 23:30:02" in page
    assert "消费 4 笔，¥1,300.00" in page and "银行流水：3 笔，¥1,234.56" in page and "批上送：收到 4 笔" in page
    assert "000009" not in page                                   # another kiosk's terminal
    english = console_host.staff("look")
    english.get("/console/lang/en?next=/console/")
    page = english.get("/console/kiosks/KIOSK-B").text
    assert "batch 000009" in page and "balanced" in page and "debits: 3, ¥1,234.56" in page


def test_an_unbalanced_settlement_is_an_alert_and_a_column_on_the_fleet_page(console_host: ConsoleHost) -> None:
    kiosk = console_host.kiosk("KIOSK-A")
    assert kiosk.heartbeat(settlement=BALANCED).status == 200
    viewer = console_host.staff("look")
    page = viewer.get("/console/").text
    row = page[page.index('id="k-KIOSK-A"'):]
    row = row[:row.index("</tr>")]
    assert "平账" in row and "000004 · 消费 3 笔，¥1,234.56" in row
    assert "KIOSK-A 上次银行结算不平" not in page

    assert kiosk.heartbeat(settlement=UNBALANCED).status == 200
    page = viewer.get("/console/").text
    assert "KIOSK-A 上次银行结算不平" in page                      # the fleet board's alert
    assert page.index('id="k-KIOSK-A"') < page.index('id="k-KIOSK-C"')   # ranked above the healthy
    assert console_host.fleet.registry.records["KIOSK-A"].alerts.get(("settlement_unbalanced", ""))

    assert kiosk.heartbeat(settlement={**BALANCED, "batch": "000006"}).status == 200   # a later one balances
    assert "KIOSK-A 上次银行结算不平" not in viewer.get("/console/").text


@pytest.mark.parametrize("bad", [{"batch": "12"}, {"balanced": "yes"}, {"at": "yesterday"},
                                 {"debit_fen": -1}, {"trigger": "cron"}])
def test_a_malformed_settlement_report_is_refused(console_host: ConsoleHost, bad: dict) -> None:
    reply = console_host.kiosk("KIOSK-A").heartbeat(settlement={**BALANCED, **bad})
    assert reply.status == 400


def test_settle_now_is_an_operators_audited_command(console_host: ConsoleHost) -> None:
    kiosk = console_host.kiosk("KIOSK-A")
    kiosk.heartbeat()
    assert console_host.staff("look").post("/console/kiosks/KIOSK-A/commands",
                                           {"command": "settle_now"}).status_code == 403
    operator = console_host.staff("duty")
    assert 'id="settle-now"' in operator.get("/console/kiosks/KIOSK-A").text
    assert operator.post("/console/kiosks/KIOSK-A/commands", {"command": "settle_now"},
                         csrf=False).status_code == 403
    sent = operator.post("/console/kiosks/KIOSK-A/commands", {"command": "settle_now"})
    assert sent.status_code == 303
    [order] = kiosk.heartbeat().json["commands"]
    assert order["name"] == "settle_now"
    kiosk.heartbeat(acks=[{"id": order["id"], "status": "done", "result": "batch 000004 balanced: 3 debit(s) ¥1,234.56"}],
                    settlement=BALANCED)
    page = operator.get("/console/kiosks/KIOSK-A").text
    assert "立即结算" in page and "batch 000004 balanced" in page
    [audit] = console_host.audit("command_sent")
    assert audit.username == "duty" and '"command": "settle_now"' in audit.detail
