"""Card payment end to end: kiosk services + real drivers on simulated devices +
the real host over loopback HTTP. Money adds up to the fen after every scenario."""
from __future__ import annotations

import asyncio

import pytest

from tests.support.payments import (BLOCKED, enter_pin, EXPIRED, GOOD, LIMITED, LOW_BALANCE,
                                    money_is_conserved, pay, settled, swipe, WALLET)
from kiosk.devices.ports import PaperStatus, PinKey
from common.errors import BadSwipe
from kiosk.domain.errors import PinEntryCancelled, SwipeTimeout

HOUSE = "3-2-1202"   # arrears and a late fee in the demo estate


async def test_approved_payment_pays_the_bill_to_the_fen(kiosk, host):
    before, due = host.totals(), host.bill(HOUSE)["total_due_fen"]
    balance = host.balance(GOOD.pan)
    bill, outcome = await pay(kiosk, HOUSE, GOOD)
    assert outcome.approved and outcome.amount.fen == due == bill.total_due.fen
    assert outcome.reference and outcome.auth_code
    assert host.balance(GOOD.pan) == balance - due
    assert host.bill(HOUSE)["total_due_fen"] == 0
    after = host.totals()
    money_is_conserved(before, after)
    assert after["ledger_fen"] - before["ledger_fen"] == due
    assert kiosk.journal.get(outcome.txn_id).state == "approved"

    assert await kiosk.payments.print_receipt(outcome.txn_id)
    printed = await asyncio.to_thread(kiosk.sims.printer.wait_for_receipt, 5)
    assert GOOD.masked_pan in printed.text and GOOD.pan not in printed.text
    assert outcome.amount.yuan in printed.text and outcome.reference in printed.text
    assert "交易以银行记录为准" in printed.text
    for item in bill.current.lines:
        assert item.amount.yuan in printed.text

    await settled(kiosk)   # the backup copy reached the property host
    rows = host.query("SELECT * FROM property_backups WHERE txn_id = :t", t=outcome.txn_id)
    assert len(rows) == 1


async def test_wrong_pin_then_right_pin(kiosk, host):
    before = host.totals()
    _, first = await pay(kiosk, HOUSE, GOOD, pin="000000")
    assert not first.approved and first.decline_code == "wrong_pin" and first.tries_left == 2
    assert host.totals() == before
    _, second = await pay(kiosk, HOUSE, GOOD)
    assert second.approved
    money_is_conserved(before, host.totals())


async def test_three_wrong_pins_lock_the_card(kiosk, host):
    before = host.totals()
    codes = [(await pay(kiosk, HOUSE, GOOD, pin="999999"))[1].decline_code for _ in range(3)]
    assert codes == ["wrong_pin", "wrong_pin", "pin_locked"]
    _, right = await pay(kiosk, HOUSE, GOOD)
    assert not right.approved and right.decline_code == "pin_locked"
    assert host.totals() == before and host.bill(HOUSE)["total_due_fen"] > 0


@pytest.mark.parametrize("card, code", [(LOW_BALANCE, "insufficient_funds"), (EXPIRED, "expired_card"),
                                        (BLOCKED, "card_blocked"), (LIMITED, "daily_limit")])
async def test_declines_charge_nothing(kiosk, host, card, code):
    before, balance = host.totals(), host.balance(card.pan)
    _, outcome = await pay(kiosk, HOUSE, card)
    assert not outcome.approved and outcome.decline_code == code
    assert host.totals() == before and host.balance(card.pan) == balance
    assert kiosk.journal.get(outcome.txn_id).state == "declined"


async def test_bad_swipe_asks_again_then_a_good_swipe_works(kiosk):
    with pytest.raises(BadSwipe):
        await swipe(kiosk, WALLET.bad_swipes[0].track2)
    with pytest.raises(BadSwipe):
        await swipe(kiosk, GOOD.track2[:12])          # a partial swipe
    swiped = await swipe(kiosk, GOOD.track2)
    assert swiped.masked_pan == GOOD.masked_pan


async def test_cancel_while_waiting_for_the_swipe(kiosk, host):
    before = host.totals()
    task = asyncio.ensure_future(kiosk.payments.read_card(30))
    assert await asyncio.to_thread(kiosk.sims.reader.wait_armed, 5)
    await kiosk.payments.cancel_devices()
    with pytest.raises(SwipeTimeout):
        await task
    assert host.totals() == before and kiosk.journal.recent() == []


async def test_cancel_on_the_pin_pad_and_clear(kiosk, host):
    before = host.totals()
    swiped = await swipe(kiosk, GOOD.track2)
    events: list[tuple[PinKey, int]] = []
    with pytest.raises(PinEntryCancelled):
        await enter_pin(kiosk, swiped, ["1", "2", "clear", "3", "cancel"], events)
    assert [k for k, _ in events] == [PinKey.DIGIT, PinKey.DIGIT, PinKey.CLEAR, PinKey.DIGIT, PinKey.CANCEL]
    assert [n for _, n in events] == [1, 2, 0, 1, 1]   # counts only, never digits
    assert host.totals() == before and kiosk.journal.recent() == []


async def test_cancel_from_the_screen_during_pin_entry(kiosk, host):
    swiped = await swipe(kiosk, GOOD.track2)
    task = asyncio.ensure_future(kiosk.payments.collect_pin(swiped, lambda k, n: None))
    assert await asyncio.to_thread(kiosk.sims.pinpad.wait_entering, 5)
    await kiosk.payments.cancel_devices()
    with pytest.raises(PinEntryCancelled):
        await task
    assert kiosk.journal.recent() == []


async def test_paper_out_after_approval_keeps_the_payment_and_reprints(kiosk, host):
    _, outcome = await pay(kiosk, HOUSE, GOOD)
    kiosk.sims.printer.paper = PaperStatus.OUT
    assert await kiosk.payments.paper_status() is PaperStatus.OUT
    assert not await kiosk.payments.print_receipt(outcome.txn_id)
    entry = kiosk.journal.get(outcome.txn_id)
    assert entry.state == "approved" and entry.detail["receipt"] == "not_printed"
    assert host.bill(HOUSE)["total_due_fen"] == 0            # the payment stands
    kiosk.sims.printer.paper = PaperStatus.OK
    assert await kiosk.payments.print_receipt(outcome.txn_id, reprint=True)
    printed = await asyncio.to_thread(kiosk.sims.printer.wait_for_receipt, 5)
    assert "REPRINT" in printed.text and outcome.reference in printed.text


async def test_paper_near_end_is_reported(kiosk):
    kiosk.sims.printer.paper = PaperStatus.NEAR_END
    assert await kiosk.payments.paper_status() is PaperStatus.NEAR_END


async def test_printer_offline_reads_as_no_paper(kiosk):
    kiosk.sims.printer.offline = True
    assert await kiosk.payments.paper_status() is PaperStatus.OUT


async def test_staff_reprint_from_the_journal(kiosk, host, tmp_path):
    """`kiosk reprint` prints the latest approved payment's receipt again, from the journal alone."""
    import subprocess
    import sys

    from kiosk.config import DEMO_KIOSK_CONFIG
    _, outcome = await pay(kiosk, HOUSE, GOOD)
    journal = kiosk.settings.journal_path
    config = tmp_path / "kiosk.toml"
    config.write_text(DEMO_KIOSK_CONFIG.read_text(encoding="utf-8").replace(
        'path = "var/demo/journal.sqlite3"', f'path = "{journal}"'), encoding="utf-8")
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "kiosk", "reprint", "--config", str(config)],
                                   capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert outcome.txn_id in done.stdout
    texts = [p.read_text(encoding="utf-8") for p in (tmp_path / "kiosk" / "receipts").glob("*.txt")]
    assert any("REPRINT" in t and outcome.reference in t for t in texts)
