"""The full PAN and track data go only to the bank front-end: after a day of
payments (approved, declined, reversed, a bad swipe), neither appears in the
kiosk's journal database (with its -wal file), its logs or its receipts."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.support.payments import enter_pin, GOOD, LOW_BALANCE, pay, settled, swipe, WALLET
from kiosk.devices.sim.network import LinkMode
from common.errors import BadSwipe
from kiosk.domain.errors import OutcomeUnknown


def secrets_of(card) -> list[bytes]:
    track2 = card.track2
    return [s.encode() for s in (card.pan, track2, track2.strip(";?"), card.track1, card.pin)]


async def test_no_pan_or_track_data_in_journal_logs_or_receipts(kiosk, host, link, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    log_file = tmp_path / "kiosk.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        _, approved = await pay(kiosk, "3-2-1202", GOOD)
        assert approved.approved and await kiosk.payments.print_receipt(approved.txn_id)
        await pay(kiosk, "2-2-902", LOW_BALANCE)                      # declined
        await pay(kiosk, "2-2-902", GOOD, pin="000000")               # wrong PIN
        with pytest.raises(BadSwipe):
            await swipe(kiosk, WALLET.bad_swipes[0].track2)
        bill = await kiosk.bills.lookup("2-1-601")
        swiped = await swipe(kiosk, GOOD.track2)
        block = await enter_pin(kiosk, swiped, GOOD.pin)
        link.set_mode(LinkMode.DROP_REPLIES)
        with pytest.raises(OutcomeUnknown):                           # reversed
            await kiosk.payments.pay(bill, swiped, block)
        link.set_mode(LinkMode.UP)
        await settled(kiosk)
        await asyncio.to_thread(kiosk.sims.printer.wait_for_receipt, 5)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()

    journal = Path(kiosk.settings.journal_path)
    files = [journal, Path(f"{journal}-wal"), log_file, *journal.parent.glob("receipts/*")]
    assert Path(f"{journal}-wal").exists() and any(journal.parent.glob("receipts/*.png"))
    blobs = {str(f): f.read_bytes() for f in files if f.exists()}
    blobs["captured log records"] = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records).encode()
    assert approved.reference.encode() in blobs[str(journal)] + blobs[f"{journal}-wal"]  # the search works
    for card in WALLET.cards:
        for secret in secrets_of(card):
            for name, blob in blobs.items():
                assert secret not in blob, f"{card.masked_pan}: card data found in {name}"
