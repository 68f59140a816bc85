"""At every supported resolution, in both languages, the idle, entry, bill and
message screens show all their text unclipped and nothing outside the kiosk
area. Screenshots go to tests/artifacts/ui/ (look at them)."""
from __future__ import annotations

from typing import Any

import pytest

from kiosk.tour import BILL_HOUSE, UNKNOWN_HOUSE, lookup, show, type_house

from .layout import layout_problems

pytestmark = pytest.mark.ui

RESOLUTIONS = [(1024, 768), (1280, 800), (1920, 1080), (1080, 1920)]


async def resize(app: Any, width: int, height: int) -> None:
    from kivy.core.window import Window

    from kiosk.bench.panel import BENCH_WIDTH
    from kiosk.screens.touch import frames, wait_for

    Window.size = (width + BENCH_WIDTH, height)
    await wait_for(lambda: tuple(map(round, app.kiosk_area.size)) == (width, height), timeout_s=10,
                   what=f"kiosk area {width}x{height}")
    await frames(3)


async def check(app: Any, name: str, artifacts: Any) -> list[str]:
    """Check the current screen in both languages; screenshot each."""
    from kiosk.screens.touch import frames

    problems = []
    for lang in ("zh", "en"):
        app.lang = lang
        await frames(3)
        w, h = map(round, app.kiosk_area.size)
        app.kiosk_area.export_to_png(str(artifacts / f"{w}x{h}-{name}-{lang}.png"))
        problems += [f"{w}x{h} {name} {lang}: {p}" for p in layout_problems(app.kiosk_area, app.kiosk_area)]
    app.lang = "zh"
    return problems


@pytest.mark.parametrize("width,height", RESOLUTIONS, ids=[f"{w}x{h}" for w, h in RESOLUTIONS])
async def test_no_clipping(kiosk_app: Any, artifacts: Any, width: int, height: int) -> None:
    from kiosk.screens.touch import tap

    app = kiosk_app
    await resize(app, width, height)
    problems = await check(app, "idle", artifacts)

    await tap(app.screen("idle").ids.pay)
    await show(app, "entry")
    await type_house(app, BILL_HOUSE)
    problems += await check(app, "entry", artifacts)

    await tap(app.screen("entry").ids.confirm)
    await show(app, "bill")
    problems += await check(app, "bill", artifacts)

    await lookup(app, UNKNOWN_HOUSE, "message")
    problems += await check(app, "message", artifacts)

    if app.bench is not None:
        problems += [f"{width}x{height} bench: {p}" for p in layout_problems(app.bench, app.bench)]
    assert not problems, "\n".join(problems)


# The card payment screens, staged through the Flow's own properties (a view
# model: this checks rendering only; tests/ui/test_ui_payment.py drives the
# real payments). The longest texts of each screen are used.
PAYMENT_STATES: list[tuple[str, str, dict[str, Any]]] = [
    ("swipe", "swipe", {"paper_note": "pay.paper_low", "swipe_again": True}),
    ("pin", "pin", {"card_text": "622202*********0017", "pin_digits": 3, "pin_note": "pin.wrong", "pin_tries": 2}),
    ("processing", "processing", {"card_text": "622202*********0017"}),
    ("result-approved", "result", {"card_text": "622202*********0017", "result_kind": "approved",
                                   "result_title": "result.approved.title", "result_body": "result.approved",
                                   "result_action": "", "result_reference": "261121000001",
                                   "receipt_state": "not_printed"}),
    ("result-declined", "result", {"result_kind": "declined", "result_title": "result.declined.title",
                                   "result_body": "decline.daily_limit", "result_action": "another_card",
                                   "receipt_state": "", "result_reference": ""}),
    ("result-unknown", "result", {"result_kind": "unknown", "result_title": "result.unknown.title",
                                  "result_body": "error.outcome_unknown", "result_action": ""}),
]


@pytest.mark.parametrize("width,height", RESOLUTIONS, ids=[f"{w}x{h}" for w, h in RESOLUTIONS])
async def test_payment_screens_fit(kiosk_app: Any, artifacts: Any, width: int, height: int) -> None:
    from kiosk.screens.flow import Message
    from kiosk.screens.touch import frames

    app = kiosk_app
    await resize(app, width, height)
    flow = app.flow
    flow.amount_text, flow.house_no = "¥12,345.67", "12-3-2502"
    problems: list[str] = []
    for name, screen, props in PAYMENT_STATES:
        for key, value in props.items():
            setattr(flow, key, value)
        flow.screen = screen
        await frames(3)
        problems += await check(app, name, artifacts)
    flow.show(Message("msg.no_paper.title", "msg.no_paper", action="no_receipt", back_to="bill", tone="info"))
    await frames(3)
    problems += await check(app, "message-no-paper", artifacts)
    flow.screen = "idle"
    assert not problems, "\n".join(problems)
