"""The resident's flows, driven by touch on the real app against the real host."""
from __future__ import annotations

from typing import Any

import pytest

from common.money import Money
from kiosk.i18n import tr
from kiosk.demo.tour.bench import set_host
from kiosk.demo.tour.cast import BILL_HOUSE, PAID_HOUSE, UNKNOWN_HOUSE
from kiosk.demo.tour.screens import go_home, key_widget, lookup, show, type_house
from tests.support.kiosks import host_bill

pytestmark = pytest.mark.ui


def host_total(host: Any, house: str) -> str:
    """The host's own figure (what it answers the kiosk's signed look-up)."""
    return Money(host_bill(host, house)["total_due_fen"]).display()


async def test_typed_house_number_shows_the_hosts_total(kiosk_app: Any, reference_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import tap, tap_now

    app = kiosk_app
    await tap(app.screen("idle").ids.pay)
    entry = await show(app, "entry")
    await type_house(app, BILL_HOUSE)
    assert entry.ids.display.text == BILL_HOUSE
    assert entry.ids.hint.text == tr("entry.hint.ready")

    await tap(entry.ids.confirm, settle=False)
    # busy at once: "查询中…" on the button, keypad and confirm disabled (no double submit)
    assert app.flow.payment.busy
    assert entry.ids.confirm.disabled and entry.ids.confirm.text == tr("entry.busy")
    assert entry.ids.busy.text == tr("entry.busy")
    assert key_widget(entry, "1").disabled
    tap_now(entry.ids.confirm)                   # a second press does nothing
    assert len(app._tasks) == 1

    bill = await show(app, "bill")
    expected = host_total(reference_host, BILL_HOUSE)
    assert bill.ids.total.text == expected
    assert BILL_HOUSE in bill.ids.heading.text
    rows = [row.text for row in bill.ids.rows.children + bill.ids.summary.children]
    for name in ("水费", "电费", "燃气费", "物业费", "往期欠费", "滞纳金"):
        assert any(name in text for text in rows), name
    app.kiosk_area.export_to_png(str(artifacts / "flow-bill-3-2-1202.png"))

    await tap(bill.ids.pay)
    message = await show(app, "message")
    assert message.ids.body.text == tr("msg.pay_soon")


async def test_nothing_due_is_a_friendly_state(kiosk_app: Any, reference_host: Any) -> None:
    bill = await lookup(kiosk_app, PAID_HOUSE, "bill")
    assert host_total(reference_host, PAID_HOUSE) == "¥0.00"
    assert bill.nothing_due
    assert bill.ids.paid.opacity == 1 and bill.ids.due.opacity == 0 and bill.ids.pay.disabled
    assert bill.ids.nothing_due.text == tr("bill.nothing_due")


async def test_unknown_house_number_offers_to_enter_it_again(kiosk_app: Any) -> None:
    from kiosk.demo.touch import tap

    message = await lookup(kiosk_app, UNKNOWN_HOUSE, "message")
    assert message.ids.body.text == tr("error.house_not_found")
    assert message.ids.action.text == tr("msg.reenter")
    await tap(message.ids.action)
    entry = await show(kiosk_app, "entry")
    assert entry.ids.display.text == UNKNOWN_HOUSE   # kept, to correct rather than retype


async def test_malformed_number_is_refused_inline(kiosk_app: Any) -> None:
    from kiosk.demo.touch import tap

    app = kiosk_app
    await tap(app.screen("idle").ids.pay)
    entry = await show(app, "entry")
    await type_house(app, "3-")
    await tap(key_widget(entry, "-"))            # "3--" cannot become a house number
    assert entry.ids.display.text == "3-"
    assert entry.ids.hint.text == tr("entry.hint.refused", char="-")
    await tap(key_widget(entry, "2"))
    await tap(entry.ids.confirm)                 # "3-2" is not complete: no lookup
    assert app.screens.current == "entry" and not app.flow.payment.busy and not app._tasks
    assert entry.ids.hint.text == tr("entry.hint.incomplete")
    await tap(key_widget(entry, "back"))
    assert entry.ids.display.text == "3-"
    await tap(key_widget(entry, "clear"))
    assert app.flow.payment.house_text == ""


async def test_host_down_then_retry_shows_the_bill(kiosk_app: Any, reference_host: Any, artifacts: Any) -> None:
    from kiosk.demo.touch import tap

    app = kiosk_app
    await set_host(app, False)                   # by touch on the bench's switch
    assert not reference_host.running
    message = await lookup(app, BILL_HOUSE, "message")
    assert message.ids.body.text == tr("error.host_unavailable")
    assert message.ids.action.text == tr("msg.retry")
    app.root.export_to_png(str(artifacts / "flow-host-down-with-bench.png"))

    await set_host(app, True)
    await tap(message.ids.action)
    bill = await show(app, "bill")
    assert bill.ids.total.text == host_total(reference_host, BILL_HOUSE)


@pytest.mark.kiosk_settings(idle_timeout_s=3)
async def test_countdown_returns_to_idle_and_forgets(kiosk_app: Any) -> None:
    from kiosk.demo.touch import tap, wait_for

    app = kiosk_app
    await tap(app.screen("idle").ids.lang)       # this resident reads English
    await lookup(app, BILL_HOUSE, "bill")
    bar = app.screen("bill").ids.bar
    # the seconds left since the last touch (the look-up's own confirm): 3, or 2 when the
    # look-up took over a second (seen once on CI's loaded workers)
    first = app.idle_remaining
    assert first in (2, 3)
    assert bar.ids.countdown.text == tr("common.countdown", "en", seconds=first)
    await wait_for(lambda: app.idle_remaining < first, timeout_s=5, what="the countdown to tick")
    assert bar.ids.countdown.text == tr("common.countdown", "en", seconds=app.idle_remaining)
    await tap(bar.ids.title)                     # any touch starts it again
    assert app.idle_remaining == 3
    await wait_for(lambda: app.screens.current == "idle", timeout_s=6, what="the idle screen")
    assert app.flow.payment.house_text == "" and app.flow.payment.bill is None
    assert app.screen("bill").ids.rows.children == []
    assert app.lang == "zh"                      # the next resident starts in the default language
    await tap(app.screen("idle").ids.pay)
    assert (await show(app, "entry")).ids.display.text == tr("entry.placeholder")


async def test_language_toggle_is_one_tap(kiosk_app: Any) -> None:
    from kiosk.demo.touch import tap

    app = kiosk_app
    idle = app.screen("idle")
    assert idle.ids.pay.title == "缴费" and idle.ids.lang.text == "English"
    await tap(idle.ids.lang)
    assert idle.ids.pay.title == "Pay bills" and idle.ids.card.title == "Card services"
    assert idle.ids.lang.text == "中文"
    await tap(idle.ids.card)
    message = await show(app, "message")
    assert message.ids.body.text == tr("msg.card_soon", "en")
    assert message.ids.bar.ids.back.text.endswith("Back")
    await tap(message.ids.bar.ids.lang)
    assert message.ids.body.text == tr("msg.card_soon", "zh")
    await go_home(app)


async def test_escape_never_quits_and_keyboard_types(kiosk_app: Any) -> None:
    from kivy.core.window import Window

    from kiosk.demo.touch import frames, tap

    app = kiosk_app
    assert Window.dispatch("on_keyboard", 27, 0, None, []) is True    # swallowed
    await frames(3)
    assert app.screens.current == "idle" and app.root.parent is Window
    assert app._on_request_close() is False        # windowed demo: the window may close
    await tap(app.screen("idle").ids.pay)
    await show(app, "entry")
    for char in "3-2-1202":
        Window.dispatch("on_keyboard", ord(char), 0, char, [])
    assert app.flow.payment.house_text == "3-2-1202"


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_a_bill_paid_here_with_its_copy_queued_shows_paid_upload_pending(
        kiosk_app: Any, artifacts: Any, lang: str) -> None:
    """The bank approved a payment at this kiosk whose copy has not reached the
    property host yet: the bill shows paid — upload pending, never payable."""
    app = kiosk_app
    bills = app.flow.payment._bills
    paid_here = bills._paid_here
    bills._paid_here = lambda house: house == BILL_HOUSE      # the journal's queued copy, for this house
    app.lang = lang
    try:
        bill = await lookup(app, BILL_HOUSE, "bill")
        assert bill.nothing_due and bill.upload_pending
        assert bill.ids.paid.opacity == 1 and bill.ids.due.opacity == 0 and bill.ids.pay.disabled
        assert bill.ids.nothing_due_title.text == tr("bill.upload_pending.title", lang)
        assert bill.ids.nothing_due.text == tr("bill.upload_pending", lang)
        rows = [row.text for row in bill.ids.rows.children + bill.ids.summary.children]
        period = app.flow.payment.bill.current.period
        assert tr("bill.paid_upload_pending", lang, period=period) in rows
        app.kiosk_area.export_to_png(str(artifacts / f"flow-bill-upload-pending-{lang}.png"))
    finally:
        bills._paid_here = paid_here
        app.lang = "zh"
