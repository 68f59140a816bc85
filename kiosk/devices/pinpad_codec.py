"""Byte protocol of the serial encrypting PIN pad (pure: no I/O).

Every message, both ways, is one frame::

    STX(02) LEN_H LEN_L CMD DATA... ETX(03) LRC
    LEN = len(CMD + DATA), big-endian;  LRC = XOR of LEN_H .. ETX

The pad answers every host frame with ACK(06) as soon as it has checked it,
or NAK(15) for a bad LRC / layout (the host sends it again); then the answer
frame follows. Frames from the pad are not acknowledged (a lost key event is
healed by the next one: each carries the digit count).

Host -> pad
  31 LOAD PIN KEY  slot 1 ‖ wrapped key 16 ‖ KCV 3
  32 START PIN     slot 1 ‖ PAN 12 digits (ASCII) ‖ min len 1 ‖ max len 1 ‖ timeout 2 (1/10 s)
  33 ABORT         (no data)
  34 START CARD PIN  min len 1 ‖ max len 1 ‖ timeout 2 (1/10 s)   (lengths 4..12)
Pad -> host
  81 load-key status   00 ok, 01 KCV mismatch, 03 busy, 04 bad request
  82 start status      00 started, 02 no PIN key (in that slot), 03 busy, 04 bad request
                       (answers both 32 and 34; 34 needs no PIN key)
  83 abort status      00 (then 91 03 / 92 03 if an entry was running)
  90 key event         key 1 ‖ digits entered 1 (never a digit's value)
  91 PIN result        00 ‖ PIN block 8 (ISO 9564 format 0, 3DES under the PIN key)
                       | 01 cancelled | 02 timed out | 03 aborted by host
  92 card PIN result   00 ‖ PIN digits (ASCII, 4..12)
                       | 01 cancelled | 02 timed out | 03 aborted by host

A card PIN (an IC card's own PIN, docs/cards.md §6) goes in clear from the pad
to the app and from there only to the card: it is never logged, and neither
Frame nor CardPinResult show their data in a repr.

Key slots (ports.KeySlot): 00 the host's PIN key (the card centre's bank
leg), 01 the bank link's PIK; loading one slot leaves the other as it was.

Key codes: 01 digit, 02 backspace, 03 clear, 04 cancel, 05 enter.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from kiosk.devices.framing import ACK, ETX, NAK, STX, Ack, FramedDecoder, FrameError, Nak, lrc  # noqa: F401 (re-exported)
from kiosk.devices.ports import PinKey

MAX_LEN = 64          # longest CMD+DATA we accept; more is line garbage


class Cmd(enum.IntEnum):
    LOAD_PIN_KEY = 0x31
    START_PIN = 0x32
    ABORT = 0x33
    START_CARD_PIN = 0x34
    LOAD_PIN_KEY_RESULT = 0x81
    START_PIN_RESULT = 0x82
    ABORT_RESULT = 0x83
    KEY_EVENT = 0x90
    PIN_RESULT = 0x91
    CARD_PIN_RESULT = 0x92


REPLY_TO = {Cmd.LOAD_PIN_KEY: Cmd.LOAD_PIN_KEY_RESULT, Cmd.START_PIN: Cmd.START_PIN_RESULT,
            Cmd.ABORT: Cmd.ABORT_RESULT, Cmd.START_CARD_PIN: Cmd.START_PIN_RESULT}

CARD_PIN_MIN, CARD_PIN_MAX = 4, 12


class Status(enum.IntEnum):
    OK = 0x00
    KCV_MISMATCH = 0x01
    NO_PIN_KEY = 0x02
    BUSY = 0x03
    BAD_REQUEST = 0x04


class PinOutcome(enum.IntEnum):
    OK = 0x00
    CANCELLED = 0x01
    TIMEOUT = 0x02
    ABORTED = 0x03


KEY_CODES: dict[PinKey, int] = {PinKey.DIGIT: 0x01, PinKey.BACKSPACE: 0x02,
                                PinKey.CLEAR: 0x03, PinKey.CANCEL: 0x04, PinKey.ENTER: 0x05}
KEYS_BY_CODE = {code: key for key, code in KEY_CODES.items()}


# --- frames -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Frame:
    cmd: int
    data: bytes = field(default=b"", repr=False)   # may be a PIN block: not in reprs


Event = Frame | Ack | Nak | FrameError


def encode_frame(cmd: int, data: bytes = b"") -> bytes:
    body = (len(data) + 1).to_bytes(2, "big") + bytes([cmd]) + data + bytes([ETX])
    return bytes([STX]) + body + bytes([lrc(body)])


class FrameDecoder(FramedDecoder):
    """Incremental decoder, used on both ends. Outside a frame: ACK/NAK become
    events, STX starts a frame, any other byte is noise and skipped. expire()
    turns a frame that stopped arriving into FrameError."""

    def _try_frame(self) -> Event | None:
        buf = self._buf
        if len(buf) < 3:
            return None
        length = int.from_bytes(buf[1:3], "big")
        if not 1 <= length <= MAX_LEN:
            return FrameError(f"bad length {length}")
        total = 1 + 2 + length + 2
        if len(buf) < total:
            return None
        if buf[total - 2] != ETX:
            return FrameError("ETX missing")
        if lrc(buf[1:total - 1]) != buf[total - 1]:
            return FrameError("bad LRC")
        return Frame(buf[3], bytes(buf[4:total - 2]))


# --- host side: requests out, typed answers in ------------------------------
def pan_field(pan: str) -> str:
    """The 12 PAN digits the format-0 block uses: rightmost 12 without the check
    digit. Only these go to the pad."""
    if not pan.isdigit() or len(pan) < 13:
        raise ValueError("PAN must be at least 13 digits")
    return pan[:-1][-12:]


KEY_SLOTS = 2


def _slot(slot: int) -> bytes:
    if not 0 <= slot < KEY_SLOTS:
        raise ValueError(f"key slot must be 0..{KEY_SLOTS - 1}")
    return bytes([slot])


def encode_load_pin_key(slot: int, wrapped: bytes, check_value: bytes) -> bytes:
    if len(wrapped) != 16 or len(check_value) != 3:
        raise ValueError("PIN key is 16 bytes wrapped, KCV 3 bytes")
    return encode_frame(Cmd.LOAD_PIN_KEY, _slot(slot) + wrapped + check_value)


def _tenths(timeout_s: float) -> bytes:
    return max(1, min(0xFFFF, round(timeout_s * 10))).to_bytes(2, "big")


def encode_start_pin(slot: int, pan: str, timeout_s: float, pin_length: int = 6) -> bytes:
    data = _slot(slot) + pan_field(pan).encode("ascii") + bytes([pin_length, pin_length]) + _tenths(timeout_s)
    return encode_frame(Cmd.START_PIN, data)


def encode_start_card_pin(timeout_s: float, min_len: int = 6, max_len: int = 6) -> bytes:
    if not CARD_PIN_MIN <= min_len <= max_len <= CARD_PIN_MAX:
        raise ValueError(f"card PIN lengths must satisfy {CARD_PIN_MIN} <= min <= max <= {CARD_PIN_MAX}")
    return encode_frame(Cmd.START_CARD_PIN, bytes([min_len, max_len]) + _tenths(timeout_s))


def encode_abort() -> bytes:
    return encode_frame(Cmd.ABORT)


@dataclass(frozen=True, slots=True)
class StatusReply:
    cmd: Cmd                 # which request it answers (81/82/83)
    status: Status


@dataclass(frozen=True, slots=True)
class KeyEvent:
    key: PinKey
    digits: int


@dataclass(frozen=True, slots=True)
class PinResult:
    outcome: PinOutcome
    block: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class CardPinResult:
    outcome: PinOutcome
    pin: str = field(default="", repr=False)    # the clear card PIN: never in a repr


PadMessage = StatusReply | KeyEvent | PinResult | CardPinResult


def decode_pad_message(frame: Frame) -> PadMessage:
    """A pad frame -> typed message; ValueError if it makes no sense."""
    data = frame.data
    if frame.cmd in (Cmd.LOAD_PIN_KEY_RESULT, Cmd.START_PIN_RESULT, Cmd.ABORT_RESULT):
        if len(data) != 1:
            raise ValueError("status reply must carry one byte")
        return StatusReply(Cmd(frame.cmd), Status(data[0]))
    if frame.cmd == Cmd.KEY_EVENT:
        if len(data) != 2 or data[0] not in KEYS_BY_CODE:
            raise ValueError("bad key event")
        return KeyEvent(KEYS_BY_CODE[data[0]], data[1])
    if frame.cmd == Cmd.PIN_RESULT:
        if not data:
            raise ValueError("empty PIN result")
        outcome = PinOutcome(data[0])
        if len(data) != (9 if outcome is PinOutcome.OK else 1):
            raise ValueError("bad PIN result length")
        return PinResult(outcome, bytes(data[1:]))
    if frame.cmd == Cmd.CARD_PIN_RESULT:
        if not data:
            raise ValueError("empty card PIN result")
        outcome = PinOutcome(data[0])
        if outcome is not PinOutcome.OK:
            if len(data) != 1:
                raise ValueError("bad card PIN result length")
            return CardPinResult(outcome)
        if not _card_pin_ok(data[1:]):
            raise ValueError("card PIN result is not 4 to 12 digits")   # never the digits themselves
        return CardPinResult(outcome, data[1:].decode("ascii"))
    raise ValueError(f"unknown pad message 0x{frame.cmd:02X}")


# --- pad side (the simulator; a real pad's firmware) -------------------------
@dataclass(frozen=True, slots=True)
class LoadPinKey:
    slot: int
    wrapped: bytes = field(repr=False)
    check_value: bytes


@dataclass(frozen=True, slots=True)
class StartPin:
    slot: int
    pan12: str = field(repr=False)
    min_len: int
    max_len: int
    timeout_s: float


@dataclass(frozen=True, slots=True)
class StartCardPin:
    min_len: int
    max_len: int
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Abort:
    pass


HostRequest = LoadPinKey | StartPin | StartCardPin | Abort


def decode_host_request(frame: Frame) -> HostRequest:
    data = frame.data
    if frame.cmd == Cmd.LOAD_PIN_KEY and len(data) == 20 and data[0] < KEY_SLOTS:
        return LoadPinKey(data[0], bytes(data[1:17]), bytes(data[17:]))
    if frame.cmd == Cmd.START_PIN and len(data) == 17 and data[0] < KEY_SLOTS:
        pan12 = data[1:13].decode("ascii", "replace")
        if not pan12.isdigit():
            raise ValueError("PAN field must be 12 digits")
        return StartPin(data[0], pan12, data[13], data[14], int.from_bytes(data[15:17], "big") / 10)
    if frame.cmd == Cmd.START_CARD_PIN and len(data) == 4:
        return StartCardPin(data[0], data[1], int.from_bytes(data[2:4], "big") / 10)
    if frame.cmd == Cmd.ABORT and not data:
        return Abort()
    raise ValueError(f"bad request 0x{frame.cmd:02X}")


def encode_status(cmd: Cmd, status: Status) -> bytes:
    return encode_frame(cmd, bytes([status]))


def encode_key_event(key: PinKey, digits: int) -> bytes:
    return encode_frame(Cmd.KEY_EVENT, bytes([KEY_CODES[key], digits]))


def encode_pin_result(outcome: PinOutcome, block: bytes = b"") -> bytes:
    if (outcome is PinOutcome.OK) != (len(block) == 8):
        raise ValueError("an OK result carries exactly the 8-byte block")
    return encode_frame(Cmd.PIN_RESULT, bytes([outcome]) + block)


def encode_card_pin_result(outcome: PinOutcome, pin: str = "") -> bytes:
    digits = pin.encode("ascii", "replace")
    if (outcome is PinOutcome.OK) != bool(pin) or (pin and not _card_pin_ok(digits)):
        raise ValueError("an OK card PIN result carries 4 to 12 digits, the others none")
    return encode_frame(Cmd.CARD_PIN_RESULT, bytes([outcome]) + digits)


def _card_pin_ok(digits: bytes) -> bool:
    return CARD_PIN_MIN <= len(digits) <= CARD_PIN_MAX and digits.isdigit()
