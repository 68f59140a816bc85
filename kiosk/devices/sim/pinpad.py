"""A simulated encrypting PIN pad on a pty, speaking pinpad_codec.

It does what the pad's secure processor does: holds the terminal master key,
unwraps and checks the PIN working key, collects the digits itself, and only
ever sends key events (no values) and the finished PIN block, ISO 9564 format 0
encrypted under the PIN key. The clear PIN never leaves this object, except
for an IC card's PIN (START CARD PIN), whose digits the pad returns as the
protocol says; it is never logged either.

Control API (device bench, tests): press(key), type_pin(pin), wait_entering(),
`state` / `entering` / `digits`, an optional listener for the bench's asterisks,
close() (= unplug)."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.crypto import CryptoError, pin_block_format0, tdes_encrypt, unwrap_key
from kiosk.devices import pinpad_codec as codec
from kiosk.devices.pinpad_codec import Cmd, PinOutcome, Status
from kiosk.devices.ports import PinKey
from kiosk.devices.sim.pty import PtyPort

log = logging.getLogger(__name__)

KEYS = {"backspace": PinKey.BACKSPACE, "clear": PinKey.CLEAR,
        "cancel": PinKey.CANCEL, "enter": PinKey.ENTER}


@dataclass(frozen=True, slots=True)
class PinPadState:
    key_loaded: bool
    entering: bool
    digits: int         # how many digits are typed: what the asterisks show
    card_pin: bool = False   # the entry is an IC card's PIN (no PIN block)


class SimPinPad:
    def __init__(self, tmk: bytes,
                 listener: Callable[[PinPadState], None] | None = None) -> None:
        """`tmk`: the pad's terminal master key (16 bytes). `listener(state)` is
        called on every change, from the device thread or the caller of press();
        it must be quick and a UI must marshal it to its own thread."""
        if len(tmk) != 16:
            raise ValueError("TMK must be 16 bytes")
        self._tmk = tmk
        self.listener = listener
        self._cond = threading.Condition(threading.RLock())
        self._pin_keys: dict[int, bytes] = {}   # by key slot (codec: 0 host, 1 bank link)
        self._slot = 0                            # the running entry's key slot
        self._entering = False
        self._pin = ""                 # the clear PIN: stays in here
        self._pan12 = ""
        self._card_pin = False         # the running entry is START CARD PIN
        self._min_len = self._max_len = 6
        self._deadline = 0.0
        self._decoder = codec.FrameDecoder()
        self._port = PtyPort(self._on_data, self._on_tick, name="sim-pinpad")
        self.path = self._port.path

    # --- observable state ---------------------------------------------------
    @property
    def state(self) -> PinPadState:
        with self._cond:
            return PinPadState(bool(self._pin_keys), self._entering, len(self._pin),
                               self._entering and self._card_pin)

    @property
    def entering(self) -> bool:
        return self.state.entering

    @property
    def digits(self) -> int:
        return self.state.digits

    def wait_entering(self, timeout: float, entering: bool = True) -> bool:
        """Block until a PIN entry is running (or with entering=False: is over);
        False on timeout. For tests and bench scripts."""
        with self._cond:
            return self._cond.wait_for(lambda: self._entering == entering, timeout)

    # --- the keypad ---------------------------------------------------------
    def press(self, key: str) -> bool:
        """'0'..'9', 'backspace', 'clear', 'cancel' or 'enter'. Returns whether
        the pad took the key (not entering, a 7th digit, or enter before the
        PIN is complete are ignored, as on a real pad: it just beeps)."""
        if not (len(key) == 1 and key.isdigit()) and key not in KEYS:
            raise ValueError(f"no such key: {key!r}")
        with self._cond:
            if not self._entering:
                return False
            if len(key) == 1 and key.isdigit():
                if len(self._pin) >= self._max_len:
                    return False
                self._pin += key
                self._send_key(PinKey.DIGIT)
            else:
                pin_key = KEYS[key]
                if pin_key is PinKey.ENTER:
                    if len(self._pin) < self._min_len:
                        return False
                    self._send_key(PinKey.ENTER)
                    self._finish(PinOutcome.OK)
                elif pin_key is PinKey.CANCEL:
                    self._send_key(PinKey.CANCEL)
                    self._finish(PinOutcome.CANCELLED)
                else:
                    self._pin = self._pin[:-1] if pin_key is PinKey.BACKSPACE else ""
                    self._send_key(pin_key)
            return True

    def type_pin(self, pin: str) -> bool:
        """Press the digits, then enter; returns whether enter was taken."""
        for digit in pin:
            self.press(digit)
        return self.press("enter")

    def close(self) -> None:
        self._port.close()

    # --- device side --------------------------------------------------------
    def _send_key(self, key: PinKey) -> None:   # caller holds the lock
        self._port.write(codec.encode_key_event(key, len(self._pin)))
        self._changed()

    def _finish(self, outcome: PinOutcome) -> None:
        """End the entry with its result: the typed PIN goes out only on OK,
        as a PIN block, or for a card PIN as its digits."""
        ok = outcome is PinOutcome.OK
        if self._card_pin:
            result = codec.encode_card_pin_result(outcome, self._pin if ok else "")
        else:
            block = b""
            if ok:
                # the pad got the 12 PAN digits only; a dummy check digit makes them a PAN again
                block = tdes_encrypt(self._pin_keys[self._slot], pin_block_format0(self._pin, self._pan12 + "0"))
            result = codec.encode_pin_result(outcome, block)
        self._port.write(result)
        self._entering, self._pin, self._pan12, self._card_pin = False, "", "", False
        self._changed()

    def _changed(self) -> None:
        self._cond.notify_all()
        if self.listener is not None:
            try:
                self.listener(self.state)
            except Exception:
                log.exception("PIN pad listener failed")

    def _on_tick(self) -> None:
        with self._cond:
            if self._entering and time.monotonic() >= self._deadline:
                self._finish(PinOutcome.TIMEOUT)

    def _on_data(self, data: bytes) -> None:
        for event in self._decoder.feed(data):
            with self._cond:
                if isinstance(event, codec.FrameError):
                    self._port.write(bytes([codec.NAK]))
                elif isinstance(event, codec.Frame):
                    self._on_frame(event)
                # ACK/NAK from the host: the host does not send any

    def _on_frame(self, frame: codec.Frame) -> None:
        if frame.cmd not in codec.REPLY_TO:
            self._port.write(bytes([codec.NAK]))
            return
        self._port.write(bytes([codec.ACK]))
        reply = codec.REPLY_TO[Cmd(frame.cmd)]
        try:
            request = codec.decode_host_request(frame)
        except ValueError:
            self._port.write(codec.encode_status(reply, Status.BAD_REQUEST))
            return
        if isinstance(request, codec.LoadPinKey):
            self._port.write(codec.encode_status(reply, self._load_key(request)))
        elif isinstance(request, (codec.StartPin, codec.StartCardPin)):
            status = self._start(request)
            self._port.write(codec.encode_status(reply, status))
            if status is Status.OK:
                self._changed()
        else:
            self._port.write(codec.encode_status(reply, Status.OK))
            if self._entering:
                self._finish(PinOutcome.ABORTED)

    def _load_key(self, request: codec.LoadPinKey) -> Status:
        if self._entering:
            return Status.BUSY
        try:
            self._pin_keys[request.slot] = unwrap_key(self._tmk, request.wrapped, request.check_value)
        except CryptoError:
            return Status.KCV_MISMATCH
        self._changed()
        return Status.OK

    def _start(self, request: codec.StartPin | codec.StartCardPin) -> Status:
        card_pin = isinstance(request, codec.StartCardPin)
        if isinstance(request, codec.StartPin) and request.slot not in self._pin_keys:
            return Status.NO_PIN_KEY                 # a card PIN is not encrypted: needs none
        if self._entering:
            return Status.BUSY
        if not 4 <= request.min_len <= request.max_len <= 12:
            return Status.BAD_REQUEST
        self._entering, self._pin, self._card_pin = True, "", card_pin
        self._pan12 = request.pan12 if isinstance(request, codec.StartPin) else ""
        self._slot = request.slot if isinstance(request, codec.StartPin) else 0
        self._min_len, self._max_len = request.min_len, request.max_len
        self._deadline = time.monotonic() + request.timeout_s
        return Status.OK
