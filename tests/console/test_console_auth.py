"""Staff sign-in, sessions, roles, CSRF and lockout, over real HTTP: wrong
password, wrong role, missing CSRF token, and every action in the audit log."""
from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

from tests.support.console_env import USERS, ConsoleHost
from host.schema.console import staff_sessions, staff_users
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)


def test_pages_need_a_sign_in_and_come_back_after_it(console_host: ConsoleHost) -> None:
    client = console_host.staff()
    for path in ("/console/", "/console/kiosks/KIOSK-A", "/console/transactions", "/console/reconciliation",
                 "/console/audit", "/console/transactions.csv", "/console/events?view=fleet"):
        reply = client.get(path)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/console/login?next="), path
    assert client.get("/console/", headers={"Accept": "application/json"}).status_code == 401
    reply = client.sign_in("look", USERS["look"][0], next_="/console/transactions")
    assert reply.status_code == 303 and reply.headers["location"] == "/console/transactions"
    assert client.get("/console/transactions").status_code == 200


def test_no_open_redirect_after_sign_in(console_host: ConsoleHost) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/console/\\evil"):
        reply = console_host.staff().sign_in("look", USERS["look"][0], next_=target)
        assert reply.headers["location"] == "/console/"


def test_wrong_password_and_unknown_user_get_the_same_answer(console_host: ConsoleHost) -> None:
    client = console_host.staff()
    wrong = client.sign_in("duty", "not-the-password")
    unknown = client.sign_in("nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    for reply in (wrong, unknown):
        assert "用户名或密码不正确" in reply.text and "console_session" not in reply.headers.get("set-cookie", "")
    failures = console_host.audit("sign_in_failed")
    assert {e.username for e in failures} == {"duty", "nobody"}
    assert all(e.ip == "127.0.0.1" for e in failures)
    assert "not-the-password" not in repr(failures)


def test_the_session_cookie_and_what_the_server_keeps(console_host: ConsoleHost) -> None:
    client = console_host.staff()
    reply = client.sign_in("duty", USERS["duty"][0])
    cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith("console_session="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags and "samesite=strict" in flags and "path=/console" in flags
    token = cookie.split(";")[0].split("=", 1)[1]
    with console_host.engine.connect() as conn:
        stored = conn.execute(select(staff_sessions.c.token_hash)).scalars().all()
        hashes = conn.execute(select(staff_users.c.password_hash).where(staff_users.c.username == "duty")).scalar()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]     # the token itself is nowhere on the server
    assert hashes.startswith("scrypt$") and USERS["duty"][0] not in hashes
    assert console_host.audit("sign_in")[0].username == "duty"


def test_sign_out_ends_the_session(console_host: ConsoleHost) -> None:
    client = console_host.staff("duty")
    token = client.http.cookies.get("console_session")
    assert client.post("/console/logout").status_code == 303
    client.http.cookies.set("console_session", token, path="/console")      # an old cookie replayed
    assert client.get("/console/").status_code == 303
    assert console_host.audit("sign_out")[0].username == "duty"


def test_a_session_ends_after_being_idle(console_host: ConsoleHost) -> None:
    import time
    client = console_host.staff("look")
    assert client.get("/console/").status_code == 200
    sessions = console_host.console.sessions
    sessions.clock = lambda: time.time() + 31 * 60                       # half an hour without a request
    try:
        reply = client.get("/console/")
        assert reply.status_code == 303 and "/console/login" in reply.headers["location"]
    finally:
        sessions.clock = time.time


def test_lockout_after_five_failures_even_for_the_right_password(console_host: ConsoleHost) -> None:
    client = console_host.staff()
    for _ in range(4):
        assert "用户名或密码不正确" in client.sign_in("duty", "guess-guess").text
    fifth = client.sign_in("duty", "guess-guess")
    assert fifth.status_code == 401 and "已锁定" in fifth.text
    right = client.sign_in("duty", USERS["duty"][0])
    assert right.status_code == 401 and "已锁定" in right.text
    assert len(console_host.audit("sign_in_failed")) == 6

    admin = console_host.staff("boss")
    users_page = admin.get("/console/users").text
    assert "已锁定至" in users_page
    assert admin.post("/console/users/duty/unlock").status_code == 303
    assert client.sign_in("duty", USERS["duty"][0]).status_code == 303
    assert console_host.audit("user_changed")[0].target == "duty"


def test_unknown_names_lock_out_too(console_host: ConsoleHost) -> None:
    client = console_host.staff()
    replies = [client.sign_in("ghost", "guess-guess") for _ in range(5)]
    assert "已锁定" in replies[-1].text                  # no hint whether "ghost" exists


def test_wrong_role_is_refused(console_host: ConsoleHost) -> None:
    viewer = console_host.staff("look")
    reply = viewer.post("/console/kiosks/KIOSK-A/commands", {"command": "out_of_service"})
    assert reply.status_code == 403 and "无权" in reply.text
    assert viewer.post("/console/commands", {"command": "restart_app"}).status_code == 403
    assert viewer.get("/console/audit").status_code == 403
    assert viewer.get("/console/users").status_code == 403
    operator = console_host.staff("duty")
    assert operator.get("/console/audit").status_code == 403
    assert operator.post("/console/users", {"username": "x1", "password": "long-enough-1", "role": "admin"}).status_code == 403
    assert console_host.fleet.commands.all_open() == []
    assert operator.post("/console/kiosks/KIOSK-A/commands", {"command": "out_of_service"}).status_code == 303
    assert [c.name for c in console_host.fleet.commands.all_open()] == ["out_of_service"]


def test_state_changes_need_the_sessions_csrf_token(console_host: ConsoleHost) -> None:
    operator = console_host.staff("duty")
    missing = operator.post("/console/kiosks/KIOSK-A/commands", {"command": "out_of_service"}, csrf=False)
    assert missing.status_code == 403 and "表单已过期" in missing.text
    wrong = operator.post("/console/kiosks/KIOSK-A/commands", {"command": "out_of_service", "csrf_token": "x" * 43},
                          csrf=False)
    assert wrong.status_code == 403
    other_session = console_host.staff("boss").csrf                     # someone else's token
    assert operator.post("/console/commands", {"command": "out_of_service", "csrf_token": other_session},
                         csrf=False).status_code == 403
    cross_site = operator.post("/console/kiosks/KIOSK-A/commands", {"command": "out_of_service"},
                               headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    assert operator.post("/console/logout", csrf=False).status_code == 403
    assert console_host.fleet.commands.all_open() == []                 # nothing was queued
    by_header = operator.http.post("/console/kiosks/KIOSK-A/commands", data={"command": "print_test"},
                                   headers={"X-CSRF-Token": operator.csrf, "Accept": "application/json"})
    assert by_header.status_code == 200 and by_header.json()["commands"][0]["name"] == "print_test"


def test_the_sign_in_form_has_its_own_token(console_host: ConsoleHost) -> None:
    client = console_host.staff()
    client.login_page()
    reply = client.http.post("/console/login", data={"username": "duty", "password": USERS["duty"][0]})
    assert reply.status_code == 403                      # no form token: a login-CSRF attempt
    assert client.get("/console/").status_code == 303


def test_admins_add_users_and_read_the_audit_log(console_host: ConsoleHost) -> None:
    admin = console_host.staff("boss")
    weak = admin.post("/console/users", {"username": "li", "password": "short", "role": "viewer"})
    assert weak.status_code == 400 and "8 to 200" in weak.text
    added = admin.post("/console/users", {"username": "Li.Ming", "display_name": "李明", "password": "li-ming-pass-1",
                                          "role": "operator"})
    assert added.status_code == 303
    assert admin.post("/console/users", {"username": "li.ming", "password": "another-pass-1",
                                         "role": "viewer"}).status_code == 400      # names are case-insensitive
    newcomer = console_host.staff()
    assert newcomer.sign_in("li.ming", "li-ming-pass-1").status_code == 303
    page = admin.get("/console/audit").text
    assert "添加用户" in page and "li.ming" in page and "登录" in page
    assert admin.get("/console/audit?action=user_added").text.count("audit-user_added") == 1


def test_security_headers(console_host: ConsoleHost) -> None:
    client = console_host.staff("look")
    reply = client.get("/console/")
    csp = reply.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert reply.headers["x-frame-options"] == "DENY" and reply.headers["cache-control"] == "no-store"
    assert not re.search(r"<script>(?!\s*</script>)", reply.text)       # no inline script: CSP would block it


def test_production_password_hashing_is_scrypt_at_owasp_cost() -> None:
    from host.console.passwords import DEFAULT_COST, hash_password, needs_rehash, verify_password
    assert (DEFAULT_COST.n, DEFAULT_COST.r, DEFAULT_COST.p) == (2 ** 17, 8, 1)
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$131072$8$1$") and not needs_rehash(stored)
    assert verify_password("correct horse", stored) and not verify_password("correct horsf", stored)


def test_the_demo_accounts_exist_only_where_the_demo_config_asks(start_console_host) -> None:  # type: ignore[no-untyped-def]
    from host.console.accounts import DEMO_ACCOUNTS
    demo = start_console_host(users=False, demo_accounts=True)
    client = demo.staff()
    page = client.login_page().text                   # the first sign-in page creates them
    assert "演示账户（仅限演示）" in page and "demo-admin-pass" in page
    username, password, role, _ = DEMO_ACCOUNTS[0]
    assert (username, role) == ("admin", "admin")
    assert client.sign_in(username, password).status_code == 303
    assert client.get("/console/audit").status_code == 200
    site = start_console_host(users=False)              # demo_accounts = false: none, and none shown
    assert "demo-admin-pass" not in site.staff().login_page().text
    assert site.console.accounts.count() == 0
