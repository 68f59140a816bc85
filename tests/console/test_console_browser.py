"""The console in a real browser: Debian's Chromium, headless, driven by
Playwright. Sign in, watch a kiosk go offline when its heartbeats stop and
come back (no reload: the page is live), send "out of service" and see it
acknowledged while the kiosk is out of service, export CSVs. Screenshots go to
tests/artifacts/console/.

The kiosk is headless here: its real FleetService and client stack over
loopback HTTP. tests/ui/test_ui_console.py does the same against the Kivy
kiosk and its out-of-service screen."""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.support.fleet import headless_kiosk, HeadlessKiosk, TMKS
from playwright.async_api import Browser, Page, expect

from tests.support.browser import chromium
from tests.support.console_env import USERS, ConsoleHost
from tests.support.databases import BACKENDS

# one event loop for the module: its Chromium (a module fixture) lives in it
pytestmark = [pytest.mark.backends(*BACKENDS), pytest.mark.asyncio(loop_scope="module")]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
INTERVAL = 0.5          # the kiosk's heartbeat: offline after 3 x 0.5 s + 0.25 s
LIVE_TIMEOUT_MS = 10_000


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for the module's tests on both backends (starting Playwright's
    driver and Chromium is ~1.5 s a time); each test signs in in a context of its own."""
    async with chromium() as browser:
        yield browser


@pytest.fixture
def host(start_console_host: Any) -> ConsoleHost:
    return start_console_host(fleet={"sweep_interval_s": 0.1, "flush_interval_s": 0.5})


@pytest_asyncio.fixture(loop_scope="module")
async def kiosk(host: ConsoleHost, tmp_path: Path) -> AsyncIterator[HeadlessKiosk]:
    folder = tmp_path / "kiosk-a"
    folder.mkdir()
    kiosk = await headless_kiosk(host.url, "KIOSK-A", folder, TMKS["KIOSK-A"], interval_s=INTERVAL)
    kiosk.fleet.screen = "idle"
    for device in ("card_reader", "pin_pad", "printer"):
        kiosk.fleet.devices.ok(device)
    yield kiosk
    await kiosk.close()


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name), full_page=True)


async def sign_in(browser: Browser, host: ConsoleHost, username: str = "boss", *, shots: bool = False) -> Page:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True,
                                        locale="zh-CN")
    page = await context.new_page()
    await page.goto(host.url + "/console/")
    await expect(page).to_have_url(host.url + "/console/login?next=%2Fconsole%2F")
    if shots:
        await shot(page, "01-sign-in.png")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", USERS[username][0])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(host.url + "/console/")
    return page


def row(page: Page, kiosk_id: str) -> Any:
    return page.locator(f"#k-{kiosk_id}")


async def test_watch_a_kiosk_go_offline_come_back_and_take_a_command(browser: Browser, host: ConsoleHost,
                                                                      kiosk: HeadlessKiosk) -> None:
    page = await sign_in(browser, host, shots=True)
    await expect(page.locator("#live")).to_have_class("live-dot on", timeout=LIVE_TIMEOUT_MS)
    await expect(row(page, "KIOSK-A").locator(".badge.state")).to_have_text("在线", timeout=LIVE_TIMEOUT_MS)
    await page.evaluate("window.__same_page = true")          # a reload would lose this
    await shot(page, "02-fleet-online.png")

    await kiosk.fleet.stop()                                    # the kiosk's heartbeats stop
    await expect(row(page, "KIOSK-A").locator(".badge.state")).to_have_text("离线", timeout=LIVE_TIMEOUT_MS)
    await expect(page.locator("#alert-KIOSK-A-offline-")).to_contain_text("KIOSK-A 离线")
    await expect(page.locator("#alerts-empty")).to_be_hidden()
    await expect(page.locator("#toasts")).to_contain_text("KIOSK-A 离线")
    await expect(page.locator("#summary")).to_contain_text("离线")
    await shot(page, "03-fleet-offline.png")

    await kiosk.fleet.start()                                   # and come back
    await expect(row(page, "KIOSK-A").locator(".badge.state")).to_have_text("在线", timeout=LIVE_TIMEOUT_MS)
    await expect(row(page, "KIOSK-A").locator(".note")).to_contain_text("后恢复")   # back after N s away
    await expect(page.locator("#toasts")).to_contain_text("KIOSK-A 已恢复在线")
    await expect(page.locator("#alert-KIOSK-A-offline-")).to_have_count(0)
    await expect(page.locator("#alerts-empty")).to_be_visible()        # "no alerts: all is well" again
    assert await page.evaluate("window.__same_page") is True
    await shot(page, "04-fleet-back-online.png")

    await row(page, "KIOSK-A").locator("a").first.click()
    await expect(page).to_have_url(host.url + "/console/kiosks/KIOSK-A")
    page.once("dialog", lambda dialog: dialog.accept())        # "send out of service to KIOSK-A?"
    await page.select_option("form.command-form select", "out_of_service")
    await page.click("form.command-form button[type=submit]")
    await expect(page).to_have_url(host.url + "/console/kiosks/KIOSK-A?msg=cmd.sent")
    status = page.locator("#commands tr").first.locator(".cmd-status")
    await expect(status).to_have_text("已完成", timeout=LIVE_TIMEOUT_MS)
    await expect(page.locator("#commands tr").first.locator(".result")).to_have_text("out of service")
    assert kiosk.fleet.out_of_service                           # the kiosk took it (its screen: tests/ui/test_ui_console.py)
    await expect(page.locator("#kiosk-panel .badge.service")).to_have_text("暂停服务", timeout=LIVE_TIMEOUT_MS)
    # and its history says so at once, without a reload (before the fleet's next write to the database)
    await expect(page.locator("#history tr").first).to_contain_text("暂停服务", timeout=LIVE_TIMEOUT_MS)
    # (a toast says so too when the result arrives after the page's stream connected;
    # a kiosk this quick may acknowledge before that, and the stream's first sync shows it)
    await shot(page, "05-kiosk-out-of-service-acknowledged.png")
    await page.context.close()


async def test_search_export_reconcile_and_read_in_english(browser: Browser, host: ConsoleHost,
                                                           tmp_path: Path) -> None:
    page = await sign_in(browser, host)
    await page.click("nav >> text=交易查询")
    await expect(page.locator("table.txns tbody tr")).to_have_count(3)
    await page.fill("input[name=card]", "0017")
    await page.click("form.search-form button[type=submit]")
    await expect(page.locator("table.txns tbody tr")).to_have_count(2)
    await shot(page, "06-transactions.png")

    async with page.expect_download() as download_info:
        await page.click("#day-totals-csv")
    download = await download_info.value
    path = tmp_path / download.suggested_filename
    await download.save_as(path)
    assert download.suggested_filename == "day-totals-2026-11-21.csv"
    totals = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert totals[-1]["kiosk_id"] == "TOTAL" and totals[-1]["net_fen"] == str(host.payments.approved_fen)

    async with page.expect_download() as download_info:
        await page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO((await (await download_info.value).path()).read_text(encoding="utf-8-sig"))))
    assert {r["house_no"] for r in rows} == {"3-2-1202", "2-1-601"}

    await page.click("nav >> text=对账")
    await expect(page.locator(".card h2").nth(1)).to_contain_text("平")
    await shot(page, "07-reconciliation.png")

    await page.click("nav >> text=审计日志")
    await expect(page.locator("#audit")).to_contain_text("导出")
    await shot(page, "08-audit.png")

    await page.click("text=EN")
    await page.click("nav >> text=Fleet")
    await expect(page.locator("#summary")).to_contain_text("Online")
    await shot(page, "09-fleet-en.png")
    await page.context.close()
