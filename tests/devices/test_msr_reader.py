"""The real SerialCardReader against the simulated reader on a real pty."""
import asyncio
import logging
import time

import pytest

from kiosk.devices import msr_codec as codec
from kiosk.devices.card_reader import SerialCardReader
from kiosk.devices.msr_codec import Track
from kiosk.devices.sim.card_reader import SimCardReader
from kiosk.devices.sim.pty import PtyPort
from common.demo_cards import load_test_cards
from common.bank_card import parse_track2
from common.errors import BadSwipe
from kiosk.domain.errors import ReaderFault, SwipeTimeout

WALLET = load_test_cards()
GOOD = WALLET.cards[0]


@pytest.fixture
def msr_sim():
    sim = SimCardReader()
    yield sim
    sim.close()


@pytest.fixture
async def msr_reader(msr_sim):
    reader = SerialCardReader(msr_sim.path, baudrate=9600)
    yield reader
    await reader.close()


async def swipe_once(reader, sim, action, timeout_s=3.0):
    """Start a read, wait until the reader is armed, do `action` (a swipe)."""
    task = asyncio.create_task(reader.read_swipe(timeout_s))
    assert await asyncio.to_thread(sim.wait_armed, 3.0)
    assert action() is True
    return await task


BLANK = Track.blank()


def frame(track2: Track, track1: Track = BLANK) -> bytes:
    return codec.encode_card_data((track1, track2, BLANK))


@pytest.mark.parametrize("card", WALLET.cards, ids=[c.masked_pan for c in WALLET.cards])
async def test_each_test_card_swipes_to_the_right_card(msr_reader, msr_sim, card):
    swipe = await swipe_once(msr_reader, msr_sim, lambda: msr_sim.swipe(card.track2, card.track1))
    assert swipe.pan == card.pan
    assert swipe.expiry == card.expiry and swipe.service_code == card.service_code
    assert swipe.track2 == card.track2
    assert swipe.masked_pan == card.pan[:6] + "*" * (len(card.pan) - 10) + card.pan[-4:]
    assert card.pan not in repr(swipe) and card.pan not in str(swipe)
    assert not msr_sim.armed          # one swipe per arm


async def test_track2_alone_is_enough(msr_reader, msr_sim):
    swipe = await swipe_once(msr_reader, msr_sim, lambda: msr_sim.swipe(GOOD.track2))
    assert swipe.pan == GOOD.pan


async def test_swipe_is_only_read_while_armed(msr_reader, msr_sim):
    assert msr_sim.swipe(GOOD.track2) is False       # nobody asked for a card
    swipe = await swipe_once(msr_reader, msr_sim, lambda: msr_sim.swipe(GOOD.track2))
    assert swipe.pan == GOOD.pan


DAMAGED = WALLET.bad_swipes[0]
BAD_SWIPES = {
    "damaged stripe (test-cards.toml)": lambda sim: sim.swipe(DAMAGED.track2),
    "track 2 read error": lambda sim: sim.swipe_raw(frame(Track.error())),
    "track 2 blank": lambda sim: sim.swipe_raw(frame(Track.blank(), Track.ok(GOOD.track1))),
    "bad Luhn": lambda sim: sim.swipe(GOOD.track2.replace("0017=", "0018=")),
    "bad LRC": lambda sim: sim.swipe_raw(frame(Track.ok(GOOD.track2))[:-1] + b"\x00"),
    "garbled bytes": lambda sim: sim.swipe_raw(b"\x02\x43\x31\x00\x30\x21;6222\xff\xfe\x00"
                                               + b"\x17" * 40),
    "truncated frame": lambda sim: sim.swipe_raw(frame(Track.ok(GOOD.track2))[:15]),
}


@pytest.mark.parametrize("damage", BAD_SWIPES.values(), ids=BAD_SWIPES.keys())
async def test_bad_swipe_asks_again_and_the_next_swipe_works(msr_reader, msr_sim, damage):
    with pytest.raises(BadSwipe):
        await swipe_once(msr_reader, msr_sim, lambda: damage(msr_sim))
    swipe = await swipe_once(msr_reader, msr_sim, lambda: msr_sim.swipe(GOOD.track2))
    assert swipe.pan == GOOD.pan


async def test_noise_before_the_frame_is_ignored(msr_reader, msr_sim):
    data = b"\x00\xff\r\n" + frame(Track.ok(GOOD.track2))
    swipe = await swipe_once(msr_reader, msr_sim, lambda: msr_sim.swipe_raw(data))
    assert swipe.pan == GOOD.pan


async def test_timeout_disarms(msr_reader, msr_sim):
    started = time.monotonic()
    with pytest.raises(SwipeTimeout):
        await msr_reader.read_swipe(0.2)
    assert time.monotonic() - started < 1.5
    assert not msr_sim.armed
    assert msr_sim.swipe(GOOD.track2) is False


async def test_cancel_ends_a_pending_read_promptly(msr_reader, msr_sim):
    task = asyncio.create_task(msr_reader.read_swipe(30))
    assert await asyncio.to_thread(msr_sim.wait_armed, 3.0)
    started = time.monotonic()
    await msr_reader.cancel()
    with pytest.raises(SwipeTimeout):
        await task
    assert time.monotonic() - started < 1.0
    assert not msr_sim.armed
    # and the reader works again afterwards
    swipe = await swipe_once(msr_reader, msr_sim, lambda: msr_sim.swipe(GOOD.track2))
    assert swipe.pan == GOOD.pan


async def test_task_cancellation_stops_the_worker(msr_reader, msr_sim):
    task = asyncio.create_task(msr_reader.read_swipe(30))
    assert await asyncio.to_thread(msr_sim.wait_armed, 3.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(msr_sim.wait_armed, 1.0, False)   # the worker disarmed
    swipe = await swipe_once(msr_reader, msr_sim, lambda: msr_sim.swipe(GOOD.track2))
    assert swipe.pan == GOOD.pan


async def test_event_loop_keeps_running_while_waiting_for_a_card(msr_reader, msr_sim):
    task = asyncio.create_task(msr_reader.read_swipe(30))
    assert await asyncio.to_thread(msr_sim.wait_armed, 3.0)
    ticks = 0
    started = time.monotonic()
    while time.monotonic() - started < 0.2:
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks >= 10                # the loop was never blocked by the serial read
    msr_sim.swipe(GOOD.track2)
    assert (await task).pan == GOOD.pan


async def test_reader_unplugged_while_waiting_is_a_reader_fault(msr_reader, msr_sim):
    task = asyncio.create_task(msr_reader.read_swipe(30))
    assert await asyncio.to_thread(msr_sim.wait_armed, 3.0)
    msr_sim.close()
    with pytest.raises(ReaderFault) as info:
        await task
    assert info.value.__cause__ is not None       # the library error, kept as the cause
    with pytest.raises(ReaderFault):               # still gone: the port cannot be reopened
        await msr_reader.read_swipe(0.5)


async def test_missing_port_is_a_reader_fault(tmp_path):
    reader = SerialCardReader(str(tmp_path / "ttyNOPE"))
    with pytest.raises(ReaderFault):
        await reader.read_swipe(0.5)
    await reader.close()


async def test_track_data_is_never_logged(msr_reader, msr_sim, caplog):
    caplog.set_level(logging.DEBUG)
    await swipe_once(msr_reader, msr_sim, lambda: msr_sim.swipe(GOOD.track2, GOOD.track1))
    with pytest.raises(BadSwipe):
        await swipe_once(msr_reader, msr_sim, lambda: msr_sim.swipe(GOOD.track2[:-8]))
    assert caplog.records                          # it does log events ...
    assert GOOD.pan not in caplog.text and GOOD.pan[6:-4] not in caplog.text   # ... not data


# --- the demo wallet -----------------------------------------------------------
def test_test_cards_load_with_valid_tracks():
    assert len(WALLET.cards) == 5
    assert {c.status for c in WALLET.cards} == {"active", "blocked"}
    assert GOOD.balance.fen == 500000 and GOOD.pin == "123456"
    for card in WALLET.cards:
        assert card.track2 == f";{card.pan}={card.expiry}{card.service_code}0000?"
        assert parse_track2(card.track2).pan == card.pan
        assert card.track1.startswith(f"%B{card.pan}^") and card.track1.endswith("?")
        name = card.track1.split("^")[1]
        assert name.isascii() and name == name.upper() and "/" in name
        assert card.track1.split("^")[2].startswith(card.expiry + card.service_code)
        assert len(card.track1) <= 79 and len(card.track2) <= 40
        assert card.pan not in repr(card) and card.pin not in repr(card)
    assert WALLET.by_pan(GOOD.pan) is GOOD
    with pytest.raises(BadSwipe):
        parse_track2(DAMAGED.track2)


# --- a reader that misbehaves on the line --------------------------------------
@pytest.mark.parametrize("answer, message", [
    (b"", "did not answer ARM"),                 # powered but mute
    (bytes([codec.NAK]), "refused ARM"),         # NAKs every command
])
async def test_reader_that_does_not_ack_is_a_reader_fault(answer, message):
    port: PtyPort

    def reply(_data: bytes) -> None:
        if answer:
            port.write(answer)

    port = PtyPort(reply, name="mute-reader")
    reader = SerialCardReader(port.path, ack_timeout_s=0.2)
    try:
        with pytest.raises(ReaderFault, match=message):
            await reader.read_swipe(5)
    finally:
        await reader.close()
        port.close()


async def test_closed_reader_refuses_further_reads(msr_sim):
    reader = SerialCardReader(msr_sim.path)
    await reader.close()
    await reader.close()                           # twice is fine
    with pytest.raises(ReaderFault):
        await reader.read_swipe(0.5)
