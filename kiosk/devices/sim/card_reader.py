"""A simulated serial magnetic-stripe reader on a pty, speaking msr_codec.

Control API (device bench, tests): swipe() a card's tracks, swipe_raw() any
bytes (garbled frames), wait_armed(), `armed`, an optional listener told when
the reader is armed or disarmed, close() (= unplug)."""
from __future__ import annotations

import threading
from collections.abc import Callable

from kiosk.devices import msr_codec as codec
from kiosk.devices.msr_codec import Command, Track
from kiosk.devices.sim.pty import PtyPort


class SimCardReader:
    def __init__(self, listener: Callable[[bool], None] | None = None) -> None:
        """`listener(armed)` is called from the device thread (or the caller of
        swipe) whenever the armed state changes; a UI must marshal it itself."""
        self.listener = listener
        self._cond = threading.Condition()
        self._armed = False
        self._splitter = codec.CommandSplitter()
        self._port = PtyPort(self._on_data, name="sim-card-reader")
        self.path = self._port.path

    @property
    def armed(self) -> bool:
        return self._armed

    def wait_armed(self, timeout: float, armed: bool = True) -> bool:
        """Block until the driver has armed (or with armed=False: disarmed) the
        reader; False on timeout. For tests and bench scripts."""
        with self._cond:
            return self._cond.wait_for(lambda: self._armed == armed, timeout)

    def swipe(self, track2: str, track1: str | None = None,
              track3: str | None = None) -> bool:
        """Pass a card through the slot. Only an armed reader reads it (like the
        real one); returns whether the tracks were sent to the host."""
        tracks = (Track.ok(track1) if track1 else Track.blank(),
                  Track.ok(track2) if track2 else Track.blank(),
                  Track.ok(track3) if track3 else Track.blank())
        return self.swipe_raw(codec.encode_card_data(tracks))

    def swipe_raw(self, data: bytes, *, force: bool = False) -> bool:
        """Send arbitrary bytes as the result of a swipe (garbled frame, bad LRC,
        noise). Like a swipe it disarms the reader; `force` sends even when not
        armed (line noise)."""
        with self._cond:
            if not (self._armed or force):
                return False
            self._set_armed(False)
            self._port.write(data)
        return True

    def close(self) -> None:
        self._port.close()

    # --- device side --------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        for frame in self._splitter.feed(data):
            command = codec.decode_command(frame)
            if command is None:
                self._port.write(bytes([codec.NAK]))
                continue
            # The ACK goes out under the lock, so a swipe made the moment the
            # reader is armed can never overtake the ACK on the line.
            with self._cond:
                if command is Command.ARM:
                    self._set_armed(True)
                elif command is Command.DISARM:
                    self._set_armed(False)
                self._port.write(bytes([codec.ACK]))

    def _set_armed(self, armed: bool) -> None:   # caller holds self._cond
        changed = armed != self._armed
        self._armed = armed
        self._cond.notify_all()
        if changed and self.listener is not None:
            self.listener(armed)
