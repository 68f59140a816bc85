"""The kiosk and the staff console together: the Kivy kiosk (real FleetService,
heartbeats over loopback HTTP to a fresh reference host) and the console in
Debian's headless Chromium. Staff send "out of service" while a resident is
paying: the command waits for the payment to end, then the kiosk shows its
out-of-service screen, accepts no card, and the console shows the command
done; "in service" brings the idle screen back. Screenshots of both sides go
to tests/artifacts/ui/."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.support.browser import chromium
from playwright.async_api import Browser, Page, expect

from kiosk.config import FleetSettings
from kiosk.demo.tour.cast import BILL_HOUSE
from kiosk.demo.tour.screens import show, start_payment

INTERVAL_S = 1.0
LIVE_MS = 15_000

pytestmark = [pytest.mark.ui, pytest.mark.kiosk_payments,
              pytest.mark.kiosk_settings(fleet=FleetSettings(heartbeat_interval_s=INTERVAL_S))]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


async def operator_page(browser: Browser, url: str, kiosk_id: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")).new_page()
    await page.goto(f"{url}/console/kiosks/{kiosk_id}")
    await page.fill("input[name=username]", "operator")            # the demo config's published account
    await page.fill("input[name=password]", "demo-operator-pass")
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{url}/console/kiosks/{kiosk_id}")
    return page


async def send(page: Page, kiosk_url: str, command: str) -> Any:
    """Send `command` from the kiosk's page; the new command row's status badge."""
    await page.goto(kiosk_url)
    page.once("dialog", lambda dialog: dialog.accept())             # "send … to KIOSK-DEMO-01?"
    await page.select_option("form.command-form select", command)
    await page.click("form.command-form button[type=submit]")
    await expect(page).to_have_url(kiosk_url + "?msg=cmd.sent")
    return page.locator("#commands tr").first.locator(".cmd-status")


async def test_out_of_service_waits_for_the_payment_then_the_kiosk_shows_it(
        kiosk_app: Any, ui_host: Any, browser: Browser, artifacts: Any) -> None:
    from kiosk.demo.touch import frames, tap, wait_for

    from kivy.clock import Clock

    Clock._max_fps = 30   # the fixture draws flat out; Playwright shares this loop and needs turns of it
    app = kiosk_app
    kiosk_id = app.settings.kiosk_id
    page = await operator_page(browser, ui_host.url, kiosk_id)
    kiosk_url = f"{ui_host.url}/console/kiosks/{kiosk_id}"
    await expect(page.locator("#kiosk-panel .badge.state")).to_have_text("在线", timeout=LIVE_MS)

    # a resident is paying: the swipe screen is up
    assert (await start_payment(app, BILL_HOUSE)).name == "swipe"
    await wait_for(lambda: app.kiosk.fleet.busy, timeout_s=5, what="the payment to hold off commands")
    await expect(page.locator("#kiosk-panel")).to_contain_text("swipe", timeout=LIVE_MS)   # its current screen
    status = await send(page, kiosk_url, "out_of_service")
    await expect(status).to_have_attribute("data-status", "delivered", timeout=LIVE_MS)
    await asyncio.sleep(3 * INTERVAL_S)                              # three heartbeats: still waiting
    assert app.flow.screen == "swipe" and not app.kiosk.fleet.out_of_service
    await expect(status).to_have_attribute("data-status", "delivered")
    await page.screenshot(path=str(artifacts / "console-command-waits-for-the-payment.png"), full_page=True)

    await tap(app.screen("swipe").ids.cancel)                        # the resident gives up: nothing charged
    oos = await show(app, "out_of_service")
    await expect(status).to_have_attribute("data-status", "done", timeout=LIVE_MS)
    await expect(page.locator("#commands tr").first.locator(".result")).to_have_text("out of service")
    await expect(page.locator("#kiosk-panel .badge.service")).to_have_text("暂停服务", timeout=LIVE_MS)
    assert app.kiosk.fleet.out_of_service
    await frames(4)
    app.kiosk_area.export_to_png(str(artifacts / "kiosk-out-of-service.png"))
    await page.screenshot(path=str(artifacts / "console-out-of-service-done.png"), full_page=True)
    assert "暂停服务" in oos.ids.title.text and "400-800-1234" in oos.ids.notices.text

    # no way in while out of service: the idle screen's choices are not there, and the flow refuses
    app.flow.start("pay")
    app.flow.start("card")
    await frames(2)
    assert app.flow.screen == "out_of_service"
    app.timer.expire_now()                                           # the countdown does not leave it either
    assert app.flow.screen == "out_of_service"

    status = await send(page, kiosk_url, "in_service")
    await show(app, "idle")
    await expect(status).to_have_attribute("data-status", "done", timeout=LIVE_MS)
    await expect(page.locator("#kiosk-panel .badge.service")).to_have_count(0, timeout=LIVE_MS)
    await wait_for(lambda: not app.kiosk.fleet.out_of_service, timeout_s=5, what="back in service")
    assert (await start_payment(app, BILL_HOUSE)).name == "swipe"    # payments start again
    await page.context.close()
