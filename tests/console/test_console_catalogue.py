"""Every console page and fragment, in both languages, with a fleet that has
something of everything to show: no catalogue key is missing (the autouse
`no_unknown_catalogue_key` of conftest.py fails the test on one) and none
reached a page as itself."""
from __future__ import annotations

import re

import pytest

from tests.support.console_env import ConsoleHost
from host.console.fleet_view import FILTERS
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)


def test_every_page_renders_every_text_in_both_languages(console_host: ConsoleHost,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    a, b = console_host.kiosk("KIOSK-A"), console_host.kiosk("KIOSK-B")
    assert a.heartbeat(screen="card_amount", out_of_service=True).status == 200
    assert b.heartbeat(screen="no_such_screen",
                       devices={"card_reader": {"state": "fault", "reason": "port gone"}, "pin_pad": {"state": "ok"},
                                "printer": {"state": "paper_out"}, "ic_contact": {"state": "paper_near_end"},
                                "scanner": {"state": "unknown"}},
                       backlog={"reversals": 2, "backups": 1, "oldest_reversal_age_s": 900}).status == 200
    boss = console_host.staff("boss")
    assert boss.post("/console/kiosks/KIOSK-A/commands", {"command": "print_test"}).status_code == 303
    batch = boss.post("/console/commands", {"command": "reload_config"}).headers["location"]
    order = a.heartbeat().json["commands"][0]
    a.heartbeat(acks=[{"id": order["id"], "status": "failed", "result": "no printer"}])
    assert console_host.staff().sign_in("look", "wrong-password").status_code != 303     # an audit line
    pages = ["/console/", *(f"/console/?filter={f}" for f in FILTERS), "/console/fleet/table",
             "/console/kiosks/KIOSK-A", "/console/kiosks/KIOSK-B", "/console/kiosks/KIOSK-C",
             "/console/kiosks/KIOSK-B/panel", "/console/kiosks/KIOSK-A?msg=cmd.sent", "/console/commands", batch,
             "/console/transactions", "/console/transactions?status=declined", "/console/transactions?from=bad",
             "/console/reconciliation", "/console/audit", "/console/users", "/console/users?msg=users.added&name=x",
             "/console/kiosks/NO-SUCH"]
    for lang in ("zh", "en"):
        assert boss.get(f"/console/lang/{lang}").status_code == 303
        for path in pages:
            reply = boss.get(path)
            assert reply.status_code in (200, 400, 404), (path, reply.status_code)
            keys = re.findall(r"\b(?:[a-z_]+\.)+[a-z_]+\b(?![.(/-])", reply.text)
            assert not [k for k in keys if k.split(".", 1)[0] in {"txn", "rec", "cmd", "fleet", "kiosk", "device",
                                                                  "state", "alert", "hist", "audit", "users"}], path
        signed_out = console_host.staff()
        assert signed_out.get(f"/console/lang/{lang}").status_code == 303
        assert signed_out.login_page().status_code == 200
    assert not [r for r in caplog.records if r.name == "common.catalogue"]
