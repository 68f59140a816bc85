"""Byte-exact exchanges of the PIN pad protocol (pinpad_codec), as data."""
import pytest

from kiosk.devices import pinpad_codec as codec
from kiosk.devices.pinpad_codec import (
    Abort,
    Ack,
    Cmd,
    Frame,
    FrameDecoder,
    FrameError,
    KeyEvent,
    LoadPinKey,
    Nak,
    PinOutcome,
    PinResult,
    StartPin,
    Status,
    StatusReply,
)
from kiosk.devices.ports import PinKey

PAN = "6222021000000000017"            # format-0 PAN field: 100000000001
WRAPPED = bytes(range(16))
KCV = bytes.fromhex("AABBCC")
BLOCK = bytes.fromhex("0123456789ABCDEF")


def wire(text: str) -> bytes:
    return bytes.fromhex(text)


# (what, bytes on the line, typed message)
HOST_REQUESTS = [
    # slot 01: the bank link's PIK (ports.KeySlot.BANK)
    ("load PIN key, slot 1", wire("02 0015 31 01 000102030405060708090A0B0C0D0E0F AABBCC 03 FB"),
     LoadPinKey(1, WRAPPED, KCV)),
    ("start PIN, slot 1, 6 digits, 30.0 s",
     wire("02 0012 32 01") + b"100000000001" + wire("06 06 012C 03 0F"),
     StartPin(1, "100000000001", 6, 6, 30.0)),
    ("abort", wire("02 0001 33 03 31"), Abort()),
]

PAD_MESSAGES = [
    ("key loaded", wire("02 0002 81 00 03 80"), StatusReply(Cmd.LOAD_PIN_KEY_RESULT, Status.OK)),
    ("KCV mismatch", wire("02 0002 81 01 03 81"),
     StatusReply(Cmd.LOAD_PIN_KEY_RESULT, Status.KCV_MISMATCH)),
    ("digit pressed, 3 entered", wire("02 0003 90 01 03 03 92"), KeyEvent(PinKey.DIGIT, 3)),
    ("PIN block", wire("02 000A 91 00 0123456789ABCDEF 03 98"), PinResult(PinOutcome.OK, BLOCK)),
    ("cancelled", wire("02 0002 91 01 03 91"), PinResult(PinOutcome.CANCELLED)),
]


@pytest.mark.parametrize("what, line, expected", HOST_REQUESTS, ids=[r[0] for r in HOST_REQUESTS])
def test_host_requests_byte_exact(what, line, expected):
    encoded = {LoadPinKey: lambda: codec.encode_load_pin_key(1, WRAPPED, KCV),
               StartPin: lambda: codec.encode_start_pin(1, PAN, 30.0),
               Abort: codec.encode_abort}[type(expected)]()
    assert encoded == line
    (frame,) = FrameDecoder().feed(line)
    assert codec.decode_host_request(frame) == expected


@pytest.mark.parametrize("what, line, message", PAD_MESSAGES, ids=[m[0] for m in PAD_MESSAGES])
def test_pad_messages_byte_exact(what, line, message):
    (frame,) = FrameDecoder().feed(line)
    assert codec.decode_pad_message(frame) == message


def test_pad_side_encoders_byte_exact():
    assert codec.encode_status(Cmd.LOAD_PIN_KEY_RESULT, Status.OK) == PAD_MESSAGES[0][1]
    assert codec.encode_key_event(PinKey.DIGIT, 3) == PAD_MESSAGES[2][1]
    assert codec.encode_pin_result(PinOutcome.OK, BLOCK) == PAD_MESSAGES[3][1]
    assert codec.encode_pin_result(PinOutcome.CANCELLED) == PAD_MESSAGES[4][1]


def test_every_key_kind_has_a_code_and_no_digit_value_on_the_wire():
    for key, code in codec.KEY_CODES.items():
        frame = codec.encode_key_event(key, 2)
        # LRC = 00 ^ 03 ^ 90 ^ code ^ 02 ^ 03 = 92 ^ code
        assert frame == wire(f"02 0003 90 {code:02X} 02 03 {0x92 ^ code:02X}")
    # the event payload is (kind, count): nothing else is sent while a PIN is typed
    assert set(codec.KEYS_BY_CODE.values()) == set(PinKey)


def test_pan_field_is_the_12_digits_before_the_check_digit():
    assert codec.pan_field(PAN) == "100000000001"
    assert codec.pan_field("4321987654321098") == "198765432109"
    with pytest.raises(ValueError):
        codec.pan_field("123456789012")


def test_start_pin_timeout_in_tenths_of_a_second():
    frame = FrameDecoder().feed(codec.encode_start_pin(0, PAN, 0.25))[0]
    assert codec.decode_host_request(frame).timeout_s == pytest.approx(0.2)   # 2 tenths
    frame = FrameDecoder().feed(codec.encode_start_pin(0, PAN, 0.0))[0]
    assert codec.decode_host_request(frame).timeout_s == pytest.approx(0.1)   # at least 1


def test_key_slots_outside_the_pad_are_refused_both_ways():
    with pytest.raises(ValueError):
        codec.encode_load_pin_key(2, WRAPPED, KCV)
    with pytest.raises(ValueError):
        codec.encode_start_pin(2, PAN, 30.0)
    (frame,) = FrameDecoder().feed(codec.encode_frame(Cmd.LOAD_PIN_KEY, b"\x02" + WRAPPED + KCV))
    with pytest.raises(ValueError):
        codec.decode_host_request(frame)


def test_ack_nak_noise_and_split_frames():
    decoder = FrameDecoder()
    line = wire("06 FF 0D") + PAD_MESSAGES[2][1] + wire("15")
    events = []
    for byte in line:
        events += decoder.feed(bytes([byte]))
    assert events == [Ack(), Frame(0x90, wire("01 03")), Nak()]


def test_bad_lrc_then_good_frame():
    good = PAD_MESSAGES[0][1]
    bad = good[:-1] + bytes([good[-1] ^ 0xFF])
    assert FrameDecoder().feed(bad + good) == [FrameError("bad LRC"), Frame(0x81, b"\x00")]


def test_truncated_frame_expires():
    decoder = FrameDecoder()
    assert decoder.feed(PAD_MESSAGES[3][1][:7]) == []
    assert decoder.expire() == [FrameError("truncated frame")]
    assert not decoder.in_frame


@pytest.mark.parametrize("line, reason", [
    ("02 0000", "bad length 0"),
    ("02 0100", "bad length 256"),
    ("02 0002 81 00 04 00", "ETX missing"),
])
def test_malformed_frames(line, reason):
    assert FrameDecoder().feed(wire(line)) == [FrameError(reason)]


@pytest.mark.parametrize("frame", [
    Frame(0x91, wire("00 0102")),            # OK result without a full block
    Frame(0x91, wire("01 00")),              # cancelled with data
    Frame(0x90, wire("09 01")),              # unknown key code
    Frame(0x81, b""),                        # status reply without status
    Frame(0xEE, b""),                        # unknown message
])
def test_nonsense_pad_messages_raise_value_error(frame):
    with pytest.raises(ValueError):
        codec.decode_pad_message(frame)


def test_pin_block_never_in_repr():
    assert "0123456789" not in repr(PinResult(PinOutcome.OK, BLOCK)).upper()
    assert "0123456789" not in repr(Frame(0x91, b"\x00" + BLOCK)).upper()
