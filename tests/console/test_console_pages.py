"""The console's pages over real HTTP: the fleet at a glance, a kiosk's page,
commands and their results, transaction search and CSV exports,
reconciliation with every difference listed, both languages, live events."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import httpx
import pytest
from tests.support.fleet import wait_until
from sqlalchemy import delete

from tests.support.console_env import ConsoleHost
from host.schema.bank import property_backups, property_ledger
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)


def sse_events(stream: httpx.Response) -> Iterator[tuple[str, dict]]:
    """(event, data) of a Server-Sent Events stream, as they come."""
    event = ""
    for line in stream.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, json.loads(line[6:])


def test_the_fleet_page_shows_every_kiosk_and_what_is_wrong(console_host: ConsoleHost) -> None:
    a, b = console_host.kiosk("KIOSK-A"), console_host.kiosk("KIOSK-B")
    assert a.heartbeat(screen="bill").status == 200
    assert b.heartbeat(devices={"card_reader": {"state": "fault", "reason": "port gone"}, "pin_pad": {"state": "ok"},
                                "printer": {"state": "paper_out"}},
                       backlog={"reversals": 2, "backups": 1, "oldest_reversal_age_s": 900}).status == 200
    page = console_host.staff("look").get("/console/").text
    for kiosk_id in ("KIOSK-A", "KIOSK-B", "KIOSK-C", "KIOSK-DEMO-01"):
        assert f'id="k-{kiosk_id}"' in page
    # trouble first, then kiosks never heard from, then the healthy ones
    assert page.index('id="k-KIOSK-B"') < page.index('id="k-KIOSK-C"') < page.index('id="k-KIOSK-A"')
    assert "故障" in page and "缺纸" in page and "冲正 2" in page and "从未连接" in page
    assert "KIOSK-B 刷卡器故障" in page and "KIOSK-B 打印机缺纸" in page and "KIOSK-B 冲正未能完成" in page
    assert "¥1,500.00" in page                               # today's takings as the kiosks report them
    assert "账单 (bill)" in page                              # KIOSK-A's current screen, in words
    faults = console_host.staff("look").get("/console/?filter=fault").text
    assert 'id="k-KIOSK-B"' in faults and 'id="k-KIOSK-A"' not in faults
    assert 'id="k-KIOSK-C"' in console_host.staff("look").get("/console/?q=c").text


def test_english_on_request(console_host: ConsoleHost) -> None:
    client = console_host.staff("look")
    switched = client.get("/console/lang/en?next=/console/transactions")
    assert switched.status_code == 303 and switched.headers["location"] == "/console/transactions"
    page = client.get("/console/").text
    assert "Fleet" in page and "Never seen" in page and "设备总览" not in page
    assert client.get("/console/lang/en?next=https://evil.example").headers["location"] == "/console/"


def test_a_command_from_the_kiosk_page_and_its_acknowledgement(console_host: ConsoleHost) -> None:
    kiosk = console_host.kiosk("KIOSK-A")
    kiosk.heartbeat()
    operator = console_host.staff("duty")
    sent = operator.post("/console/kiosks/KIOSK-A/commands", {"command": "out_of_service"})
    assert sent.status_code == 303 and sent.headers["location"] == "/console/kiosks/KIOSK-A?msg=cmd.sent"
    page = operator.get("/console/kiosks/KIOSK-A").text
    assert "暂停服务" in page and "等待设备" in page and "指令已发送" not in page
    order = kiosk.heartbeat().json["commands"][0]
    assert order["name"] == "out_of_service"
    kiosk.heartbeat(acks=[{"id": order["id"], "status": "done", "result": "out of service"}], out_of_service=True)
    page = operator.get("/console/kiosks/KIOSK-A").text
    assert "已完成" in page and "out of service" in page
    audit = console_host.audit("command_sent")
    assert audit[0].username == "duty" and audit[0].target == "KIOSK-A" and '"command": "out_of_service"' in audit[0].detail


def test_a_command_to_every_kiosk_shows_its_progress(console_host: ConsoleHost) -> None:
    operator = console_host.staff("duty")
    reply = operator.post("/console/commands", {"command": "upload_journal"})
    assert reply.status_code == 303 and "batch=" in reply.headers["location"]
    kiosk = console_host.kiosk("KIOSK-A")
    order = kiosk.heartbeat().json["commands"][0]
    kiosk.heartbeat(acks=[{"id": order["id"], "status": "done", "result": "uploaded 0 item(s)"}])
    page = operator.get(reply.headers["location"]).text
    assert "1/4 已确认" in page and page.count('id="cmd-') == 4
    assert console_host.audit("command_sent")[0].target == "all (4 kiosks)"


def test_kiosk_page_history_and_recent_transactions(start_console_host) -> None:  # type: ignore[no-untyped-def]
    host = start_console_host(fleet={"flush_interval_s": 0.1})
    demo = host.kiosk("KIOSK-DEMO-01")
    demo.heartbeat(last_error={"at": "2026-11-21T10:05:00", "message": "receipt not printed: paper out"})
    devices = {"card_reader": {"state": "ok"}, "pin_pad": {"state": "ok"}, "printer": {"state": "paper_near_end"},
               "ic_contact": {"state": "ok"}, "ic_contactless": {"state": "fault", "reason": "no reader"},
               "scanner": {"state": "ok"}}
    demo.heartbeat(devices=devices)
    demo.heartbeat(uptime_s=5, devices=devices)       # it restarted
    client = host.staff("look")
    # every line of the three heartbeats' history, not only the newest: while the fleet
    # writes a batch down, that batch is in neither its memory nor the table (host/fleet/service.py
    # `history`), so an older line can be missing for a moment after a newer one shows
    page = wait_until(lambda: (p := client.get("/console/kiosks/KIOSK-DEMO-01").text) and "上线" in p
                      and "纸将尽" in p and "应用已重启" in p and p, what="the history")
    assert "上线" in page and "receipt not printed: paper out" in page and "打印机：纸将尽" in page
    # every device in words, in the panel and the history; one this console does not know by its name
    assert "应用已重启（此前运行了 2 分钟）" in page
    assert "<dt>IC卡读卡器（接触）</dt>" in page and "IC卡读卡器（非接）：故障" in page and "<dt>scanner</dt>" in page
    assert "622202*********0017" in page and "3-2-1202" in page and host.payments.approved in page
    assert client.get("/console/kiosks/NO-SUCH").status_code == 404


def test_transaction_search(console_host: ConsoleHost) -> None:
    client = console_host.staff("look")
    p = console_host.payments
    everything = client.get("/console/transactions").text      # today by default
    for txn_id in (p.approved, p.declined, p.reversed):
        assert txn_id in everything
    by_house = client.get("/console/transactions", params={"house": "3-2-1202"}).text
    assert p.approved in by_house and p.reversed not in by_house
    for card in ("0017", "622202", "622202******0017", "6222021000000000017"):   # a full number is masked first
        found = client.get("/console/transactions", params={"card": card}).text
        assert p.approved in found and p.declined not in found, card
    declined = client.get("/console/transactions", params={"status": "declined"}).text
    assert p.declined in declined and p.approved not in declined and "insufficient_funds" in declined
    assert p.reversed in client.get("/console/transactions", params={"status": "reversed"}).text
    assert p.approved not in client.get("/console/transactions", params={"kiosk": "KIOSK-A"}).text
    assert p.approved not in client.get("/console/transactions", params={"from": "2026-11-22", "to": "2026-11-22"}).text
    assert client.get("/console/transactions", params={"from": "21/11/2026"}).status_code == 400


def test_csv_exports(console_host: ConsoleHost) -> None:
    client = console_host.staff("look")
    p = console_host.payments
    reply = client.get("/console/transactions.csv", params={"from": "2026-11-21", "to": "2026-11-21"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in reply.headers["content-disposition"]
    text = reply.content.decode("utf-8")
    assert text.startswith("\ufeff")                                   # Excel reads the Chinese right
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert {r["txn_id"]: r["status"] for r in rows} == {p.approved: "approved", p.declined: "declined",
                                                         p.reversed: "reversed"}
    approved = next(r for r in rows if r["txn_id"] == p.approved)
    assert approved["amount_fen"] == str(p.approved_fen) and approved["masked_pan"] == "622202*********0017"
    assert "6222021000000000017" not in text

    totals = client.get("/console/day-totals.csv", params={"day": "2026-11-21"}).content.decode("utf-8")
    lines = list(csv.DictReader(io.StringIO(totals.lstrip("\ufeff"))))
    demo, overall = lines[0], lines[-1]
    assert demo["kiosk_id"] == "KIOSK-DEMO-01" and overall["kiosk_id"] == "TOTAL"
    assert (demo["approved_count"], demo["approved_fen"], demo["declined_count"], demo["reversed_count"],
            demo["reversed_fen"], demo["net_fen"]) == ("1", str(p.approved_fen), "1", "1", str(p.reversed_fen),
                                                       str(p.approved_fen))
    assert [e.target for e in console_host.audit("export")] == ["day-totals.csv", "transactions.csv"]


def test_reconciliation_lists_every_difference(console_host: ConsoleHost) -> None:
    client = console_host.staff("look")
    p = console_host.payments
    page = client.get("/console/reconciliation", params={"day": "2026-11-21"}).text
    assert "银行流水、物业台账与设备备份完全一致" in page and 'id="differences"' not in page
    assert f"¥{p.approved_fen // 100:,}.{p.approved_fen % 100:02d}" in page

    with console_host.engine.begin() as conn:                          # break the books on purpose
        conn.execute(delete(property_ledger).where(property_ledger.c.txn_id == p.approved))
        conn.execute(delete(property_backups).where(property_backups.c.txn_id == p.approved))
    # the bank approved it (its journal prevails); neither the ledger nor the kiosk's copy has it
    page = client.get("/console/reconciliation", params={"day": "2026-11-21"}).text
    assert "2 处差异" in page
    assert 'class="diff-missing_in_ledger"' in page and 'class="diff-backup_missing"' in page
    assert "KIOSK001/000001/" in page and "可能仍在设备的上传积压中" in page
    assert "无交易" in client.get("/console/reconciliation", params={"day": "2026-11-20"}).text


def test_staff_settle_a_payment_the_bank_approved_from_its_record(console_host: ConsoleHost) -> None:
    """The bank approved it, its copy never came: the ledger lacks it. An
    operator books it from the bank's record (audited); a viewer cannot."""
    from sqlalchemy import select, update

    from host.schema.estate import bills
    p = console_host.payments
    with console_host.engine.begin() as conn:                          # as if the copy never came
        (rrn,) = conn.execute(select(property_ledger.c.reference).where(property_ledger.c.txn_id == p.approved)).one()
        conn.execute(delete(property_ledger).where(property_ledger.c.txn_id == p.approved))
        conn.execute(delete(property_backups).where(property_backups.c.txn_id == p.approved))
        conn.execute(update(bills).where(bills.c.paid_ref == rrn).values(paid_at=None, paid_ref=None))
    day = {"day": "2026-11-21"}
    assert "settle-from-bank" not in console_host.staff("look").get("/console/reconciliation", params=day).text
    assert console_host.staff("look").post("/console/reconciliation/settle", {"rrn": rrn, **day}).status_code == 403
    duty = console_host.staff("duty")
    page = duty.get("/console/reconciliation", params=day).text
    assert 'class="settle-from-bank"' in page and f'name="rrn" value="{rrn}"' in page
    done = duty.post("/console/reconciliation/settle", {"rrn": rrn, **day}, follow_redirects=False)
    assert done.status_code == 303 and "msg=rec.settled" in done.headers["location"]
    page = duty.get("/console/reconciliation", params=day).text
    assert "1 处差异" in page and 'class="diff-backup_missing"' in page and "diff-missing_in_ledger" not in page
    (entry,) = console_host.audit("payment_settled")
    assert entry.target == rrn and json.loads(entry.detail)["amount_fen"] == p.approved_fen
    assert duty.post("/console/reconciliation/settle", {"rrn": rrn, **day}).status_code == 409   # booked once
    assert duty.post("/console/reconciliation/settle", {"rrn": "../x", **day}).status_code == 400


def test_live_events_reach_an_open_page(start_console_host) -> None:  # type: ignore[no-untyped-def]
    host = start_console_host(fleet={"sweep_interval_s": 0.05})
    client = host.staff("look")
    kiosk = host.kiosk("KIOSK-A")
    seen: list[tuple[str, dict]] = []
    with client.http.stream("GET", "/console/events?view=fleet&filter=all&page=1", timeout=15) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for event, data in sse_events(stream):
            seen.append((event, data))
            if event == "hello":
                kiosk.heartbeat(interval_s=0.2, devices={"printer": {"state": "paper_out"}})
            if event in ("rows", "table") and any("KIOSK-A" in json.dumps(d) for e, d in seen if e in ("rows", "table")) \
                    and any(e == "alert" for e, _ in seen):
                break
    kinds = [e for e, _ in seen]
    assert "summary" in kinds and "alert" in kinds
    alert = next(d for e, d in seen if e == "alert")
    assert alert["toast"] == "KIOSK-A 打印机缺纸" and "alert-KIOSK-A-paper_out-printer" in alert["html"]


def test_a_viewer_cannot_listen_without_a_session(console_host: ConsoleHost) -> None:
    reply = httpx.get(console_host.url + "/console/events?view=fleet", headers={"Accept": "application/json"})
    assert reply.status_code == 401


def test_a_page_stream_starts_with_what_the_page_shows_now(console_host: ConsoleHost) -> None:
    """A result published between the page's render and its stream's subscription
    must not be lost: every stream starts by sending the current state."""
    kiosk = console_host.kiosk("KIOSK-A")
    kiosk.heartbeat()
    operator = console_host.staff("duty")
    operator.post("/console/kiosks/KIOSK-A/commands", {"command": "print_test"})
    order = kiosk.heartbeat().json["commands"][0]
    kiosk.heartbeat(acks=[{"id": order["id"], "status": "done", "result": "test receipt printed"}])
    events: dict[str, dict] = {}
    with operator.http.stream("GET", "/console/events?view=kiosk&kiosk=KIOSK-A", timeout=15) as stream:
        for event, data in sse_events(stream):
            events[event] = data
            if event == "commands":
                break
    assert set(events) >= {"hello", "alerts", "panel", "history", "commands"}
    assert events["history"]["replace"] is True
    assert f'id="cmd-{order["id"]}"' in events["commands"]["html"] and "已完成" in events["commands"]["html"]
    assert "KIOSK-A" not in events["alerts"]["html"]


def test_a_kiosk_page_hears_each_history_line_as_it_happens(console_host: ConsoleHost) -> None:
    """A device change reaches the open kiosk page's history at once, not after
    the next write to the database; another kiosk's changes do not."""
    kiosk, other = console_host.kiosk("KIOSK-A"), console_host.kiosk("KIOSK-B")
    kiosk.heartbeat()
    operator = console_host.staff("duty")
    lines: list[dict] = []
    with operator.http.stream("GET", "/console/events?view=kiosk&kiosk=KIOSK-A", timeout=15) as stream:
        for event, data in sse_events(stream):
            if event == "commands":          # the page's current state is in: now something happens
                other.heartbeat(devices={"pin_pad": {"state": "fault", "reason": "no answer"}})
                kiosk.heartbeat(devices={"printer": {"state": "paper_out"}})
            elif event == "history" and not data["replace"]:
                lines.append(data)
                break
    assert len(lines) == 1
    assert "打印机：缺纸" in lines[0]["html"] and "密码键盘" not in lines[0]["html"]
    assert 'class="placeholder"' not in lines[0]["html"]
