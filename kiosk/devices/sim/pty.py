"""A pseudo-terminal pair for simulated serial devices.

The simulator works on the master side; the real pyserial driver opens the
slave by path (/dev/pts/N) exactly as it would open /dev/ttyUSB0, so the
driver's own bytes, timeouts and error handling are what gets exercised."""
from __future__ import annotations

import errno
import logging
import os
import select
import threading
import tty
from collections.abc import Callable

log = logging.getLogger(__name__)


class PtyPort:
    """Runs `on_data(bytes)` for everything the driver writes, and `on_tick()`
    about every `tick_s` (device timers), in one daemon thread."""

    def __init__(self, on_data: Callable[[bytes], None],
                 on_tick: Callable[[], None] | None = None, *,
                 tick_s: float = 0.02, name: str = "pty-device") -> None:
        self._on_data, self._on_tick, self._tick_s = on_data, on_tick, tick_s
        self._master, self._slave = os.openpty()
        # Raw mode (no echo, no line editing, no CR/LF mapping) on both ends:
        # termios settings belong to the slave tty, and pyserial sets raw mode
        # again when it opens it, but bytes may flow before that.
        tty.setraw(self._slave)
        tty.setraw(self._master)
        # We keep our own slave fd open: on Linux, reading the master while no
        # one has the slave open fails with EIO; the driver opens and closes
        # the port whenever it likes.
        self.path = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._write_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def write(self, data: bytes) -> None:
        """Send bytes to the driver (any thread)."""
        with self._write_lock:
            if self._closed.is_set():
                return
            view = memoryview(data)
            while view:
                written = os.write(self._master, view)
                view = view[written:]

    def close(self) -> None:
        """Stop the device thread and close the pty: the slave path vanishes, and
        a driver that still has it open gets I/O errors (a device unplugged)."""
        if self._closed.is_set():
            return
        with self._write_lock:
            self._closed.set()
        os.write(self._wake_w, b"x")
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([self._master, self._wake_r], [], [], self._tick_s)
                if self._master in ready and not self._closed.is_set():
                    try:
                        data = os.read(self._master, 4096)
                    except OSError as exc:
                        if exc.errno == errno.EIO:   # transient hang-up: wait, retry
                            self._closed.wait(self._tick_s)
                            continue
                        raise
                    if data:
                        self._on_data(data)
                if self._on_tick is not None and not self._closed.is_set():
                    self._on_tick()
            except Exception:   # a device bug must not kill the pty silently
                if self._closed.is_set():
                    return
                log.exception("simulated device %s failed", self._thread.name)
