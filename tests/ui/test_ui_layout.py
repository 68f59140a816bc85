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
