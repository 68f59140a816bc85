"""The real SerialPinPad against the simulated encrypting PIN pad on a real pty."""
import asyncio
import threading
import time

import pytest

from common.crypto import kcv, pin_block_format0, tdes_decrypt, wrap_key
from kiosk.devices.pinpad import SerialPinPad
from kiosk.devices.ports import KeySlot, PinKey
from kiosk.devices.sim.pinpad import PinPadState, SimPinPad
from common.demo_cards import load_test_cards
from kiosk.domain.errors import PinEntryCancelled, PinEntryTimeout, PinPadFault

# test keys, made up for these tests
TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
PIK = bytes.fromhex("1C2D3E4F5A6B7C8D9EAFB0C1D2E3F405")
CARD = load_test_cards().cards[0]


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


@pytest.fixture
async def keyed_pad(serial_pad):
    await serial_pad.load_pin_key(KeySlot.BANK, wrap_key(TMK, PIK), kcv(PIK))
    return serial_pad


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


async def test_load_pin_key_ok(serial_pad, pad_sim):
    assert not pad_sim.state.key_loaded
    await serial_pad.load_pin_key(KeySlot.BANK, wrap_key(TMK, PIK), kcv(PIK))
    assert pad_sim.state.key_loaded


@pytest.mark.parametrize("wrapped, check", [
    (wrap_key(TMK, PIK), bytes.fromhex("000000")),                 # wrong KCV
    (wrap_key(bytes(reversed(TMK)), PIK), kcv(PIK)),               # wrapped under another TMK
])
async def test_load_pin_key_refused_on_kcv_mismatch(serial_pad, pad_sim, wrapped, check):
    with pytest.raises(PinPadFault, match="check value"):
        await serial_pad.load_pin_key(KeySlot.BANK, wrapped, check)
    assert not pad_sim.state.key_loaded


async def test_no_pin_key_no_entry(serial_pad):
    with pytest.raises(PinPadFault, match="no PIN key"):
        await serial_pad.collect_pin(KeySlot.BANK, CARD.pan, KeyLog(), 5)


async def test_collect_pin_events_in_order_and_block_decrypts(keyed_pad, pad_sim, pad_states):
    keys = KeyLog()
    pin = CARD.pin                                   # 123456
    presses = ["9", "8", "backspace", "clear", *pin[:3], "7", "backspace", *pin[3:],
               "0",                                  # a 7th digit: ignored
               "enter"]
    task = asyncio.create_task(keyed_pad.collect_pin(KeySlot.BANK, CARD.pan, keys, 10))
    taken = await press_when_entering(pad_sim, presses)
    block = await task

    D, B, C, E = PinKey.DIGIT, PinKey.BACKSPACE, PinKey.CLEAR, PinKey.ENTER
    assert keys.events == [(D, 1), (D, 2), (B, 1), (C, 0), (D, 1), (D, 2), (D, 3), (D, 4),
                           (B, 3), (D, 4), (D, 5), (D, 6), (E, 6)]
    assert taken[-2] is False                        # the 7th digit
    assert keys.threads == {threading.get_ident()}   # delivered on the event loop thread
    assert len(block) == 8
    assert tdes_decrypt(PIK, block) == pin_block_format0(pin, CARD.pan)
    assert pin not in repr(keys.events)
    # the bench sees asterisk counts only; the pad is idle again afterwards
    assert [s.digits for s in pad_states if s.entering][-1] == 6
    assert pad_sim.state == PinPadState(key_loaded=True, entering=False, digits=0)


async def test_enter_before_six_digits_is_ignored(keyed_pad, pad_sim):
    keys = KeyLog()
    task = asyncio.create_task(keyed_pad.collect_pin(KeySlot.BANK, CARD.pan, keys, 10))
    taken = await press_when_entering(pad_sim, ["1", "2", "enter"])
    assert taken == [True, True, False]
    assert pad_sim.entering and pad_sim.digits == 2
    assert await asyncio.to_thread(pad_sim.type_pin, "3456")
    block = await task
    assert tdes_decrypt(PIK, block) == pin_block_format0("123456", CARD.pan)


async def test_cardholder_cancel(keyed_pad, pad_sim):
    keys = KeyLog()
    task = asyncio.create_task(keyed_pad.collect_pin(KeySlot.BANK, CARD.pan, keys, 10))
    await press_when_entering(pad_sim, ["1", "cancel"])
    with pytest.raises(PinEntryCancelled):
        await task
    assert keys.events == [(PinKey.DIGIT, 1), (PinKey.CANCEL, 1)]
    assert not pad_sim.entering


async def test_pad_timeout(keyed_pad, pad_sim):
    started = time.monotonic()
    with pytest.raises(PinEntryTimeout):
        await keyed_pad.collect_pin(KeySlot.BANK, CARD.pan, KeyLog(), 0.3)
    assert time.monotonic() - started < 1.5
    assert not pad_sim.entering


async def test_host_cancel_aborts_the_entry(keyed_pad, pad_sim):
    task = asyncio.create_task(keyed_pad.collect_pin(KeySlot.BANK, CARD.pan, KeyLog(), 30))
    assert await asyncio.to_thread(pad_sim.wait_entering, 3.0)
    started = time.monotonic()
    await keyed_pad.cancel()
    with pytest.raises(PinEntryCancelled):
        await task
    assert time.monotonic() - started < 1.0
    assert not pad_sim.entering
    # the pad takes the next entry
    task = asyncio.create_task(keyed_pad.collect_pin(KeySlot.BANK, CARD.pan, KeyLog(), 10))
    await press_when_entering(pad_sim, [*"654321", "enter"])
    assert tdes_decrypt(PIK, await task) == pin_block_format0("654321", CARD.pan)


async def test_task_cancellation_aborts_on_the_pad(keyed_pad, pad_sim):
    task = asyncio.create_task(keyed_pad.collect_pin(KeySlot.BANK, CARD.pan, KeyLog(), 30))
    assert await asyncio.to_thread(pad_sim.wait_entering, 3.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(pad_sim.wait_entering, 2.0, False)


async def test_pad_unplugged_during_entry(keyed_pad, pad_sim):
    task = asyncio.create_task(keyed_pad.collect_pin(KeySlot.BANK, CARD.pan, KeyLog(), 30))
    assert await asyncio.to_thread(pad_sim.wait_entering, 3.0)
    pad_sim.close()
    with pytest.raises(PinPadFault) as info:
        await task
    assert info.value.__cause__ is not None
    with pytest.raises(PinPadFault):
        await keyed_pad.load_pin_key(KeySlot.BANK, wrap_key(TMK, PIK), kcv(PIK))


async def test_pad_missing(tmp_path):
    pad = SerialPinPad(str(tmp_path / "ttyNOPE"))
    with pytest.raises(PinPadFault):
        await pad.load_pin_key(KeySlot.BANK, wrap_key(TMK, PIK), kcv(PIK))
    await pad.close()


async def test_keys_when_no_entry_are_ignored(pad_sim):
    assert pad_sim.press("1") is False
    with pytest.raises(ValueError):
        pad_sim.press("x")


async def test_closed_pad_refuses_further_requests(pad_sim):
    pad = SerialPinPad(pad_sim.path)
    await pad.close()
    await pad.close()
    with pytest.raises(PinPadFault):
        await pad.load_pin_key(KeySlot.BANK, wrap_key(TMK, PIK), kcv(PIK))


async def test_each_slot_keeps_its_own_key_and_a_block_is_under_the_slot_asked(serial_pad, pad_sim):
    """The host's PIN key (the card centre's bank leg) and the bank link's PIK
    live side by side: loading one leaves the other, and each PIN block is
    made under the key of the slot its entry named."""
    host_key = bytes.fromhex("0F1E2D3C4B5A69788796A5B4C3D2E1F0")
    with pytest.raises(PinPadFault):                       # nothing in the host's slot yet
        await serial_pad.load_pin_key(KeySlot.BANK, wrap_key(TMK, PIK), kcv(PIK))
        await serial_pad.collect_pin(KeySlot.HOST, CARD.pan, KeyLog(), 5)
    await serial_pad.load_pin_key(KeySlot.HOST, wrap_key(TMK, host_key), kcv(host_key))
    for slot, key in ((KeySlot.HOST, host_key), (KeySlot.BANK, PIK)):
        task = asyncio.create_task(serial_pad.collect_pin(slot, CARD.pan, KeyLog(), 10))
        await press_when_entering(pad_sim, [*CARD.pin, "enter"])
        assert tdes_decrypt(key, await task) == pin_block_format0(CARD.pin, CARD.pan), slot
