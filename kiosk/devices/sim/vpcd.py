"""The card side of a vsmartcard vpcd slot: puts a virtual card into a virtual
reader of pcscd, so the real pyscard adapter talks to it.

vpcd listens on a TCP port per slot; a card "is inserted" while it holds a
connection there. Every message both ways is a 2-byte big-endian length and a
payload; a 1-byte payload from vpcd is control (00 power off, 01 power on,
02 reset, 04 get ATR -- answered with the ATR), anything longer is a C-APDU
answered with the R-APDU. Removing the card = closing the socket.

TCP_NODELAY, and TCP_QUICKACK re-armed before every read (Linux clears it
again by itself), keep an APDU at ~0.3 ms instead of ~40 ms of delayed ACK."""
from __future__ import annotations

import logging
import socket
import threading
from typing import Protocol

from kiosk.devices.sim.cpu_card_data import CardPulled, FaultHook, FaultVerdict

log = logging.getLogger(__name__)

CTRL_POWER_OFF, CTRL_POWER_ON, CTRL_RESET, CTRL_GET_ATR = 0x00, 0x01, 0x02, 0x04


class VirtualCard(Protocol):
    atr: bytes
    fault: FaultHook | None

    def process(self, apdu: bytes) -> bytes: ...     # may raise CardPulled
    def power_off(self) -> None: ...
    def reset(self) -> None: ...


class VpcdUnavailable(ConnectionError):
    """Nothing listens on the slot's port: pcscd with the vpcd driver is not running."""


class VpcdSlot:
    """One virtual reader slot. `insert` and `remove` may be called from any
    thread; the card is served in a daemon thread per insertion."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self._cond = threading.Condition()
        self._card: VirtualCard | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def card(self) -> VirtualCard | None:
        return self._card

    @property
    def present(self) -> bool:
        return self._card is not None

    def insert(self, card: VirtualCard, timeout: float = 5.0) -> None:
        """Put the card into the reader. RuntimeError if one is already in;
        VpcdUnavailable if vpcd does not listen on the port."""
        with self._cond:
            if self._card is not None:
                raise RuntimeError(f"a card is already in the slot on port {self.port}")
            try:
                sock = socket.create_connection((self.host, self.port), timeout=timeout)
            except OSError as exc:
                raise VpcdUnavailable(f"no vpcd on {self.host}:{self.port} "
                                      f"(is pcscd running with the vpcd driver?): {exc}") from exc
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            card.reset()                  # a fresh session, whatever happened before
            self._card, self._sock = card, sock
            self._thread = threading.Thread(target=self._serve, args=(sock, card),
                                            name=f"vpcd-slot-{self.port}", daemon=True)
            self._thread.start()

    def remove(self, timeout: float = 5.0) -> None:
        """Take the card out (no-op if the slot is empty) and wait for the
        serving thread to end."""
        with self._cond:
            sock, thread = self._sock, self._thread
            if sock is not None:
                try:   # wakes the thread's blocking recv with EOF
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    close = remove

    def wait_removed(self, timeout: float | None = None) -> bool:
        """Block until the slot is empty (removed, torn, or vpcd went away)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._card is None, timeout)

    def tear_after(self, n: int, *, applied: bool = True) -> None:
        """Test helper: answer `n` more APDUs, then pull the card during the next
        one -- after applying it (its answer is lost) or, with applied=False,
        before the card sees it."""
        card = self._card
        if card is None:
            raise RuntimeError("no card in the slot")
        left = n

        def hook(_apdu: bytes) -> FaultVerdict:
            nonlocal left
            if left > 0:
                left -= 1
                return None
            card.fault = None
            return "after" if applied else "before"
        card.fault = hook

    # --- the serving thread -----------------------------------------------------
    def _serve(self, sock: socket.socket, card: VirtualCard) -> None:
        try:
            while (msg := _recv_frame(sock)) is not None:
                if len(msg) == 1:
                    if msg[0] == CTRL_GET_ATR:
                        _send_frame(sock, card.atr)
                    elif msg[0] == CTRL_POWER_OFF:
                        card.power_off()
                    elif msg[0] in (CTRL_POWER_ON, CTRL_RESET):
                        card.reset()
                    else:
                        log.warning("vpcd slot %d: unknown control byte %02X", self.port, msg[0])
                    continue
                try:
                    answer = card.process(msg)
                except CardPulled as pulled:
                    log.info("vpcd slot %d: %s", self.port, pulled)
                    break
                _send_frame(sock, answer)
        except OSError as exc:      # vpcd went away (pcscd stopped) or a reset connection
            log.debug("vpcd slot %d: connection lost: %s", self.port, exc)
        except Exception:           # a card bug must not leave a half-open slot behind
            log.exception("vpcd slot %d: the card failed", self.port)
        finally:
            sock.close()            # a pulled card: vpcd sees the connection drop
            card.power_off()
            with self._cond:
                if self._sock is sock:
                    self._card = self._sock = self._thread = None
                self._cond.notify_all()


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _recv_frame(sock: socket.socket) -> bytes | None:
    """The next message, or None at EOF."""
    header = _recv_exact(sock, 2)
    if header is None:
        return None
    size = int.from_bytes(header, "big")
    return _recv_exact(sock, size) if size else b""


def _send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(len(payload).to_bytes(2, "big") + payload)
