"""The PIN pad's card-PIN command (34 START CARD PIN -> 82, key events 90,
result 92 with the digits): byte-exact codec exchanges as data, then the real
SerialPinPad against the simulated pad on a real pty."""
import asyncio
import logging
import threading
import time

import pytest

from common.crypto import kcv, pin_block_format0, tdes_decrypt, wrap_key
from kiosk.devices import pinpad_codec as codec
from kiosk.devices.pinpad import SerialPinPad
from kiosk.devices.pinpad_codec import (
    CardPinResult,
    Cmd,
    Frame,
    FrameDecoder,
    PinOutcome,
    StartCardPin,
    Status,
    StatusReply,
)
from kiosk.devices.ports import KeySlot, PinKey
from kiosk.devices.sim.pinpad import PinPadState, SimPinPad
from kiosk.domain.errors import PinEntryCancelled, PinEntryTimeout, PinPadFault

# test keys, made up for these tests
TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
PIK = bytes.fromhex("1C2D3E4F5A6B7C8D9EAFB0C1D2E3F405")
PAN = "6222021000000000017"
CARD_PIN = "739184"          # distinctive, so that a leak into a log would be found


def wire(text: str) -> bytes:
    return bytes.fromhex(text)


# --- codec: bytes on the line as data (LRCs worked out by hand) -------------------------
# 02 0005 34 06 06 012C 03: LRC = 00^05^34^06^06^01^2C^03 = 1F
START_6_30S = wire("02 0005 34 06 06 012C 03 1F")
# 02 0005 34 04 0C 0258 03: LRC = 00^05^34^04^0C^02^58^03 = 60
START_4_12_60S = wire("02 0005 34 04 0C 0258 03 60")

CARD_PIN_RESULTS = [
    # 00^08^92^00^31^32^33^34^35^36^03 = 9E
    ("PIN 123456", wire("02 0008 92 00") + b"123456" + wire("03 9E"), CardPinResult(PinOutcome.OK, "123456")),
    # 00^06^92^00^30^30^30^30^03 = 97
    ("PIN 0000", wire("02 0006 92 00") + b"0000" + wire("03 97"), CardPinResult(PinOutcome.OK, "0000")),
    ("cancelled", wire("02 0002 92 01 03 92"), CardPinResult(PinOutcome.CANCELLED)),
    ("timed out", wire("02 0002 92 02 03 91"), CardPinResult(PinOutcome.TIMEOUT)),
    ("aborted", wire("02 0002 92 03 03 90"), CardPinResult(PinOutcome.ABORTED)),
]


def test_start_card_pin_byte_exact():
    assert codec.encode_start_card_pin(30.0) == START_6_30S
    assert codec.encode_start_card_pin(60.0, min_len=4, max_len=12) == START_4_12_60S
    (frame,) = FrameDecoder().feed(START_6_30S)
    assert codec.decode_host_request(frame) == StartCardPin(6, 6, 30.0)
    (frame,) = FrameDecoder().feed(START_4_12_60S)
    assert codec.decode_host_request(frame) == StartCardPin(4, 12, 60.0)


def test_start_card_pin_is_answered_like_start_pin():
    assert codec.REPLY_TO[Cmd.START_CARD_PIN] is Cmd.START_PIN_RESULT
    (frame,) = FrameDecoder().feed(wire("02 0002 82 00 03 83"))
    assert codec.decode_pad_message(frame) == StatusReply(Cmd.START_PIN_RESULT, Status.OK)


@pytest.mark.parametrize("what, line, message", CARD_PIN_RESULTS, ids=[r[0] for r in CARD_PIN_RESULTS])
def test_card_pin_results_byte_exact(what, line, message):
    assert codec.encode_card_pin_result(message.outcome, message.pin) == line
    (frame,) = FrameDecoder().feed(line)
    assert codec.decode_pad_message(frame) == message


@pytest.mark.parametrize("min_len, max_len", [(3, 6), (6, 13), (7, 6), (0, 0)])
def test_start_card_pin_lengths_are_checked(min_len, max_len):
    with pytest.raises(ValueError):
        codec.encode_start_card_pin(30.0, min_len, max_len)


@pytest.mark.parametrize("frame", [
    Frame(0x92, b""),                          # empty
    Frame(0x92, b"\x00123"),                   # 3 digits
    Frame(0x92, b"\x001234567890123"),         # 13 digits
    Frame(0x92, b"\x0012a456"),                # not digits
    Frame(0x92, b"\x00"),                      # OK without a PIN
    Frame(0x92, b"\x01123456"),                # cancelled with digits
    Frame(0x92, b"\x09"),                      # no such outcome
])
def test_nonsense_card_pin_results_raise_value_error(frame):
    with pytest.raises(ValueError) as info:
        codec.decode_pad_message(frame)
    assert "123456" not in str(info.value) and "12a456" not in str(info.value)


@pytest.mark.parametrize("frame", [Frame(0x34, wire("06 06 01")), Frame(0x34, wire("06 06 01 2C 00"))])
def test_bad_start_card_pin_requests(frame):
    with pytest.raises(ValueError):
        codec.decode_host_request(frame)


def test_encode_card_pin_result_refuses_inconsistent_results():
    for outcome, pin in [(PinOutcome.OK, ""), (PinOutcome.OK, "123"), (PinOutcome.OK, "12345a"),
                         (PinOutcome.CANCELLED, "123456")]:
        with pytest.raises(ValueError):
            codec.encode_card_pin_result(outcome, pin)


def test_card_pin_never_in_repr():
    assert CARD_PIN not in repr(CardPinResult(PinOutcome.OK, CARD_PIN))
    assert CARD_PIN not in repr(Frame(0x92, b"\x00" + CARD_PIN.encode()))


# --- the real driver against the simulated pad ---------------------------------------
@pytest.fixture
def pad_states():
    return []


@pytest.fixture
def pad_sim(pad_states):
    sim = SimPinPad(TMK, listener=pad_states.append)
    yield sim
    sim.close()


@pytest.fixture
async def serial_pad(pad_sim):
    pad = SerialPinPad(pad_sim.path, baudrate=9600)
    yield pad
    await pad.close()


class KeyLog:
    """on_key callback that records what the app sees, and on which thread."""

    def __init__(self) -> None:
        self.events: list[tuple[PinKey, int]] = []
        self.threads: set[int] = set()

    def __call__(self, key: PinKey, digits: int) -> None:
        self.events.append((key, digits))
        self.threads.add(threading.get_ident())


async def press_when_entering(sim, keys):
    """From another thread, like a finger: wait for the entry, press keys."""
    def run():
        assert sim.wait_entering(3.0)
        return [sim.press(k) for k in keys]
    return await asyncio.to_thread(run)


async def test_card_pin_needs_no_pin_key_and_comes_back_in_clear(serial_pad, pad_sim, pad_states, caplog):
    caplog.set_level(logging.DEBUG)
    keys = KeyLog()
    assert not pad_sim.state.key_loaded
    task = asyncio.create_task(serial_pad.collect_card_pin(keys, 10))
    taken = await press_when_entering(pad_sim, ["5", "backspace", *CARD_PIN, "0", "enter"])
    pin = await task

    assert pin == CARD_PIN
    D, B, E = PinKey.DIGIT, PinKey.BACKSPACE, PinKey.ENTER
    assert keys.events == [(D, 1), (B, 0), (D, 1), (D, 2), (D, 3), (D, 4), (D, 5), (D, 6), (E, 6)]
    assert taken[-2] is False                        # a 7th digit is refused
    assert keys.threads == {threading.get_ident()}   # delivered on the event loop thread
    # the bench saw a card-PIN entry with asterisk counts; the pad is idle again
    assert any(s.card_pin and s.entering and s.digits == 6 for s in pad_states)
    assert pad_sim.state == PinPadState(key_loaded=False, entering=False, digits=0, card_pin=False)
    # nothing logged the digits, at any level, anywhere
    assert CARD_PIN not in caplog.text
    assert all(CARD_PIN not in str(r.args) for r in caplog.records)


async def test_card_pin_lengths_4_to_12(serial_pad, pad_sim):
    task = asyncio.create_task(serial_pad.collect_card_pin(KeyLog(), 10, min_len=4, max_len=12))
    taken = await press_when_entering(pad_sim, ["1", "2", "3", "enter", "4", "enter"])
    assert taken == [True, True, True, False, True, True]     # enter at 3 digits: beep
    assert await task == "1234"

    task = asyncio.create_task(serial_pad.collect_card_pin(KeyLog(), 10, min_len=4, max_len=12))
    taken = await press_when_entering(pad_sim, [*"1234567890123", "enter"])
    assert taken[12] is False                                 # the 13th digit
    assert await task == "123456789012"


async def test_bad_lengths_are_refused_before_the_pad_is_asked(serial_pad, pad_sim):
    with pytest.raises(ValueError):
        await serial_pad.collect_card_pin(KeyLog(), 10, min_len=3, max_len=6)
    assert not pad_sim.entering


async def test_cardholder_cancels_the_card_pin(serial_pad, pad_sim):
    keys = KeyLog()
    task = asyncio.create_task(serial_pad.collect_card_pin(keys, 10))
    await press_when_entering(pad_sim, ["1", "cancel"])
    with pytest.raises(PinEntryCancelled):
        await task
    assert keys.events == [(PinKey.DIGIT, 1), (PinKey.CANCEL, 1)]
    assert not pad_sim.entering


async def test_card_pin_times_out_on_the_pad(serial_pad, pad_sim):
    started = time.monotonic()
    with pytest.raises(PinEntryTimeout):
        await serial_pad.collect_card_pin(KeyLog(), 0.3)
    assert time.monotonic() - started < 1.5
    assert not pad_sim.entering


async def test_host_cancel_then_a_bank_pin_still_gives_a_block(serial_pad, pad_sim):
    await serial_pad.load_pin_key(KeySlot.BANK, wrap_key(TMK, PIK), kcv(PIK))
    task = asyncio.create_task(serial_pad.collect_card_pin(KeyLog(), 30))
    assert await asyncio.to_thread(pad_sim.wait_entering, 3.0)
    await serial_pad.cancel()
    with pytest.raises(PinEntryCancelled):
        await task
    assert not pad_sim.entering
    # the next entry is a bank PIN: the pad is back in PIN-block mode
    task = asyncio.create_task(serial_pad.collect_pin(KeySlot.BANK, PAN, KeyLog(), 10))
    await press_when_entering(pad_sim, [*"654321", "enter"])
    assert tdes_decrypt(PIK, await task) == pin_block_format0("654321", PAN)
    # and then a card PIN again
    task = asyncio.create_task(serial_pad.collect_card_pin(KeyLog(), 10))
    await press_when_entering(pad_sim, [*CARD_PIN, "enter"])
    assert await task == CARD_PIN


async def test_task_cancellation_aborts_the_card_pin_on_the_pad(serial_pad, pad_sim):
    task = asyncio.create_task(serial_pad.collect_card_pin(KeyLog(), 30))
    assert await asyncio.to_thread(pad_sim.wait_entering, 3.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(pad_sim.wait_entering, 2.0, False)


async def test_a_leftover_bank_pin_result_is_not_taken_for_the_card_pin(serial_pad, pad_sim):
    """A stray 91 (an earlier bank entry's result) on the line while a card PIN
    is collected is skipped: only a 92 ends the card-PIN entry."""
    task = asyncio.create_task(serial_pad.collect_card_pin(KeyLog(), 10))
    assert await asyncio.to_thread(pad_sim.wait_entering, 3.0)
    pad_sim._port.write(codec.encode_pin_result(PinOutcome.CANCELLED))   # noise on the line
    await press_when_entering(pad_sim, [*CARD_PIN, "enter"])
    assert await task == CARD_PIN


async def test_pad_unplugged_during_card_pin(serial_pad, pad_sim):
    task = asyncio.create_task(serial_pad.collect_card_pin(KeyLog(), 30))
    assert await asyncio.to_thread(pad_sim.wait_entering, 3.0)
    pad_sim.close()
    with pytest.raises(PinPadFault) as info:
        await task
    assert info.value.__cause__ is not None


async def test_sim_rules_for_a_card_pin_entry(pad_sim):
    """Raw bytes to the simulator: a card PIN needs no PIN key (a bank PIN
    does), a second START while it runs is busy, ABORT ends it with 92 03."""
    import serial

    port = serial.Serial(pad_sim.path, 9600, timeout=0.2)
    decoder = FrameDecoder()

    def ask(request: bytes, frames: int = 1) -> list:
        port.write(request)
        events: list = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and sum(isinstance(e, Frame) for e in events) < frames:
            events += decoder.feed(port.read(64))
        return events

    try:
        assert ask(codec.encode_start_pin(1, PAN, 5)) == [codec.Ack(), Frame(0x82, b"\x02")]   # no PIN key
        assert ask(START_6_30S) == [codec.Ack(), Frame(0x82, b"\x00")]
        assert pad_sim.state.card_pin and pad_sim.entering
        assert ask(START_6_30S) == [codec.Ack(), Frame(0x82, b"\x03")]                        # busy
        events = ask(codec.encode_abort(), frames=2)
        assert events == [codec.Ack(), Frame(0x83, b"\x00"), Frame(0x92, b"\x03")]
        assert codec.decode_pad_message(events[2]) == CardPinResult(PinOutcome.ABORTED)
        assert not pad_sim.entering and not pad_sim.state.card_pin
    finally:
        port.close()
