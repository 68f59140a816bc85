""""Settle now" in a real browser (Chromium, Playwright): an operator presses
the kiosk page's button, the headless kiosk's FleetService runs its real
BankSettlementService at the safe point and acknowledges; the result is on the
page and, the settlement being unbalanced, the fleet board raises the alert.
The link under the service is scripted here (its 0500 and upload against the
real front-end: tests/payments/test_bank_settlement.py)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from common.bank8583.fields import Totals
from common.money import Money
from kiosk.backend_client.bank8583.settlement import Settlement
from kiosk.services.bank_settlement import BankSettlementService
from tests.console.test_console_browser import LIVE_TIMEOUT_MS, browser, host, shot, sign_in  # noqa: F401 (fixtures)
from tests.support.console_env import ConsoleHost
from tests.support.fleet import TMKS, HeadlessKiosk, headless_kiosk
from tests.support.databases import BACKENDS

# the module's loop: test_console_browser's Chromium fixture is one per module
pytestmark = [pytest.mark.backends(*BACKENDS), pytest.mark.asyncio(loop_scope="module")]


class ScriptedLink:
    """The front-end disagreed with the kiosk's totals: 2 debits uploaded."""

    def __init__(self) -> None:
        self.calls = 0

    async def settle(self) -> Settlement:
        self.calls += 1
        return Settlement("000007", Totals(Money(250_00), 2), balanced=False, uploaded=2)


@pytest_asyncio.fixture(loop_scope="module")
async def kiosk(host: ConsoleHost, tmp_path: Path) -> AsyncIterator[tuple[HeadlessKiosk, ScriptedLink]]:  # noqa: F811
    folder = tmp_path / "kiosk-a"
    folder.mkdir()
    kiosk = await headless_kiosk(host.url, "KIOSK-A", folder, TMKS["KIOSK-A"], interval_s=0.5)
    link = ScriptedLink()
    service = BankSettlementService(link, kiosk.journal, kiosk.journal.clock, "")
    kiosk.fleet.register("settle_now", service.settle_now)
    journal_status = kiosk.fleet.status
    assert journal_status is not None

    async def status(*, busy: bool) -> dict[str, Any]:      # as bootstrap's status provider adds it
        return {**await journal_status(busy=busy), "settlement": service.status()}
    kiosk.fleet.status = status
    yield kiosk, link
    await kiosk.close()


async def test_settle_now_from_the_kiosk_page(browser: Browser, host: ConsoleHost,  # noqa: F811
                                              kiosk: tuple[HeadlessKiosk, ScriptedLink]) -> None:
    headless, link = kiosk
    page = await sign_in(browser, host, "duty")
    await page.goto(host.url + "/console/kiosks/KIOSK-A")
    await expect(page.locator("#settlement")).to_contain_text("银行尚无该终端的结算记录")
    page.once("dialog", lambda dialog: dialog.accept())        # "settle KIOSK-A's batch now?"
    await page.click("#settle-now")
    await expect(page).to_have_url(host.url + "/console/kiosks/KIOSK-A?msg=cmd.sent")
    first = page.locator("#commands tr").first
    await expect(first.locator(".cmd-status")).to_have_text("已完成", timeout=LIVE_TIMEOUT_MS)
    await expect(first.locator(".result")).to_have_text(
        "batch 000007 unbalanced, 2 debit(s) uploaded: 2 debit(s) ¥250.00")
    assert link.calls == 1 and headless.journal.last_settlement() is not None
    await shot(page, "06-kiosk-settle-now.png")

    await page.goto(host.url + "/console/")
    await expect(page.locator("#alert-KIOSK-A-settlement_unbalanced-")).to_contain_text(
        "KIOSK-A 上次银行结算不平", timeout=LIVE_TIMEOUT_MS)
    await expect(page.locator("#k-KIOSK-A .settlement")).to_contain_text("不平", timeout=LIVE_TIMEOUT_MS)
    await shot(page, "07-fleet-settlement-alert.png")
    await page.context.close()
