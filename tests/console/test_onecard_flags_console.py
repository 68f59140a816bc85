"""The console's one-card flags (docs/console.md "One-card flags"): the cards a
kiosk refused "please see the property office", UID masked, house, what the
card said against the host's mirror and when; an operator clears a flag once
the office has dealt with the card (CSRF, audited); a viewer only looks."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from host.db import write_transaction
from host.onecard.registry import flag
from host.schema.onecard import onecard_flags
from tests.support.clocks import TODAY
from tests.support.console_env import ConsoleHost
from tests.support.databases import BACKENDS
from tests.console.test_console_browser import browser  # noqa: F401 (a fixture: one Chromium for the module)

pytestmark = pytest.mark.backends(*BACKENDS)

ROLLED_BACK = "B1C20003"     # 赵敏, 2-2-902: the card holds 120.00 after 5, the mirror 80.00 after 6


def _flag(host: ConsoleHost, uid: str, reason: str, detail: str) -> int:
    with write_transaction(host.engine) as conn:
        flag(conn, uid, "KIOSK-DEMO-01", datetime.combine(TODAY, datetime.min.time()).replace(hour=9), reason, detail)
        return int(conn.execute(select(onecard_flags.c.id).order_by(onecard_flags.c.id.desc())).scalars().first())


def _cleared(host: ConsoleHost, flag_id: int) -> bool:
    with host.engine.connect() as conn:
        return conn.execute(select(onecard_flags.c.cleared_at).where(onecard_flags.c.id == flag_id)
                            ).scalar_one() is not None


def test_staff_see_the_flagged_cards_and_an_operator_clears_one(console_host: ConsoleHost) -> None:
    mismatch = _flag(console_host, ROLLED_BACK, "mirror_mismatch", "card 12000 fen after 5, mirror 8000 fen after 6")
    other = _flag(console_host, ROLLED_BACK, "auth_code", "block 5 is not the auth code of this UID and block 4")
    look, duty = console_host.staff("look"), console_host.staff("duty")
    page = look.get("/console/onecard-flags")
    assert page.status_code == 200
    row = page.text.split(f'id="flag-{mismatch}"')[1].split("</tr>")[0]
    assert "****0003" in row and ROLLED_BACK not in page.text            # the UID masked
    assert "2-2-902" in row and "120.00" in row and "80.00" in row and f"{TODAY.isoformat()} 09:00:00" in row
    assert f'id="flag-{other}"' in page.text and "/clear" not in page.text   # a viewer sees no button
    assert look.post(f"/console/onecard-flags/{mismatch}/clear").status_code == 403
    assert duty.post(f"/console/onecard-flags/{mismatch}/clear", csrf=False).status_code == 403
    assert not _cleared(console_host, mismatch) and not console_host.audit("onecard_flag_cleared")

    done = duty.post(f"/console/onecard-flags/{mismatch}/clear")
    assert done.status_code == 200 and 'id="ocfl-done"' in done.text and f'id="flag-{mismatch}"' not in done.text
    assert _cleared(console_host, mismatch) and not _cleared(console_host, other)
    [entry] = console_host.audit("onecard_flag_cleared")
    assert (entry.username, entry.target) == ("duty", "****0003") and '"reason": "mirror_mismatch"' in entry.detail
    assert duty.post(f"/console/onecard-flags/{mismatch}/clear").status_code == 404     # cleared already


def test_a_bad_or_unknown_flag_is_a_clear_4xx(console_host: ConsoleHost) -> None:
    duty = console_host.staff("duty")
    assert duty.post("/console/onecard-flags/abc/clear").status_code == 400
    assert duty.post("/console/onecard-flags/99999/clear").status_code == 404
    assert console_host.staff().get("/console/onecard-flags").status_code == 303      # signed out: sign in


@pytest.mark.asyncio(loop_scope="module")      # the loop of the module's Chromium (test_console_browser's fixture)
async def test_the_page_in_a_browser(start_console_host: Any, browser: Any) -> None:  # noqa: F811
    """Headless Chromium, as an operator: the flagged card, then Clear; screenshots in tests/artifacts/console."""
    from playwright.async_api import expect

    from tests.console.test_console_browser import shot, sign_in

    host = start_console_host()
    flag_id = _flag(host, ROLLED_BACK, "mirror_mismatch", "card 12000 fen after 5, mirror 8000 fen after 6")
    page = await sign_in(browser, host, "duty")
    await page.click("text=一卡通异常")                           # the nav's link
    await expect(page.locator(f"#flag-{flag_id}")).to_contain_text("****0003")
    await expect(page.locator(f"#flag-{flag_id}")).to_contain_text("¥120.00")
    await shot(page, "onecard-flags.png")
    await page.click(f"#flag-{flag_id} button")
    await expect(page.locator("#ocfl-done")).to_contain_text("****0003")
    await shot(page, "onecard-flags-cleared.png")
    await page.context.close()
    assert _cleared(host, flag_id)
