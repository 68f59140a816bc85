"""PC/SC card readers through pyscard (docs/cards.md §4): readers by name, card
presence events, and an APDU transport for kiosk/cards.

We use pyscard's thin `smartcard.scard` layer: every call returns a PC/SC
status code, which we turn into the kiosk's errors right here --
card gone -> CardRemoved; card present but confused (reset, mute, an empty
answer) -> CardFault; no pcscd, unknown or vanished reader -> ReaderFault --
with a pyscard SmartcardException carrying the code as the cause.

CardWatcher runs its own SCardGetStatusChange loop instead of pyscard's
CardMonitor: the latency is the same (both wait on pcscd's events), but
CardMonitor is a process-wide singleton that blocks up to 60 s on stop and
gives up for good when pcscd restarts; ours stops at once (SCardCancel) and
reconnects to a restarted pcscd."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

from smartcard import scard as sc
from smartcard.Exceptions import SmartcardException

from kiosk.domain.errors import CardFault, CardRemoved, ReaderFault

log = logging.getLogger(__name__)

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"

_CARD_GONE = {sc.SCARD_W_REMOVED_CARD, sc.SCARD_E_NO_SMARTCARD}
_CARD_BAD = {sc.SCARD_W_RESET_CARD, sc.SCARD_W_UNRESPONSIVE_CARD, sc.SCARD_W_UNPOWERED_CARD,
             sc.SCARD_E_PROTO_MISMATCH, sc.SCARD_E_NOT_TRANSACTED, sc.SCARD_E_COMM_DATA_LOST,
             sc.SCARD_E_SHARING_VIOLATION}
# SCARD_F_COMM_ERROR is pcsc-lite's "RPC transport error": the socket to pcscd broke.
_SERVICE_GONE = {sc.SCARD_E_NO_SERVICE, sc.SCARD_E_SERVICE_STOPPED, sc.SCARD_E_INVALID_HANDLE,
                 sc.SCARD_F_COMM_ERROR}

# How long a failed exchange waits for pcscd to notice a pulled card (vpcd and
# most readers are polled every 400 ms) before calling it a card fault.
REMOVAL_SETTLE_S = 1.0


def _code(hresult: int) -> int:
    return hresult & 0xFFFFFFFF


def _cause(hresult: int, what: str) -> SmartcardException:
    return SmartcardException(f"{what}: {sc.SCardGetErrorMessage(hresult)}", hresult=hresult)


@dataclass(frozen=True, slots=True)
class CardEvent:
    reader: str
    present: bool


class PcscReader:
    """One reader by its PC/SC name. Blocking calls: run them in a worker thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._ctx: int | None = None

    def _context(self) -> int:
        with self._lock:
            if self._ctx is None:
                hresult, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
                if hresult != sc.SCARD_S_SUCCESS:
                    raise ReaderFault(f"PC/SC service unavailable for {self.name}") \
                        from _cause(hresult, "SCardEstablishContext")
                self._ctx = ctx
            return self._ctx

    def _drop_context(self) -> None:
        """After pcscd went away the context is dead; the next call makes a new one."""
        with self._lock:
            ctx, self._ctx = self._ctx, None
        if ctx is not None:
            sc.SCardReleaseContext(ctx)

    def error(self, hresult: int, what: str) -> Exception:
        """The kiosk error for a failed PC/SC call on this reader (to raise)."""
        code = _code(hresult)
        if code in _CARD_GONE:
            err: Exception = CardRemoved(f"card removed from {self.name}")
        elif code in _CARD_BAD:
            err = CardFault(f"card in {self.name}: {sc.SCardGetErrorMessage(hresult)}")
        else:
            if code in _SERVICE_GONE:
                self._drop_context()
            err = ReaderFault(f"reader {self.name}: {sc.SCardGetErrorMessage(hresult)}")
        err.__cause__ = _cause(hresult, what)
        return err

    def _state(self, ctx: int, timeout_ms: int = 0, current: int = sc.SCARD_STATE_UNAWARE) -> int | None:
        """The reader's event state; None on timeout."""
        hresult, states = sc.SCardGetStatusChange(ctx, timeout_ms, [(self.name, current)])
        if _code(hresult) == sc.SCARD_E_TIMEOUT:
            return None
        if hresult != sc.SCARD_S_SUCCESS:
            raise self.error(hresult, "SCardGetStatusChange")
        return states[0][1]

    def card_present(self) -> bool:
        state = self._state(self._context())
        return bool(state is not None and state & sc.SCARD_STATE_PRESENT)

    def wait_card(self, present: bool, timeout_s: float) -> bool:
        """Wait (on pcscd's events, not by polling) until a card is in the
        reader (present=True) or none is; False if that did not happen in time."""
        ctx = self._context()
        deadline = time.monotonic() + timeout_s
        state: int | None = self._state(ctx)
        while state is not None and bool(state & sc.SCARD_STATE_PRESENT) != present:
            left_ms = int((deadline - time.monotonic()) * 1000)
            state = self._state(ctx, left_ms, state) if left_ms > 0 else None
        return state is not None

    def connect(self) -> PcscTransport:
        """Connect in shared mode, T=0 or T=1 as the card offers; the transport
        carries the card's ATR (SCardStatus), which tells a storage card the
        reader emulates (PC/SC Part 3: a MIFARE Classic) from a CPU card."""
        hresult, hcard, protocol = sc.SCardConnect(self._context(), self.name, sc.SCARD_SHARE_SHARED,
                                                   sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1)
        if hresult != sc.SCARD_S_SUCCESS:
            raise self.error(hresult, "SCardConnect")
        status = sc.SCardStatus(hcard)
        if status[0] != sc.SCARD_S_SUCCESS:
            sc.SCardDisconnect(hcard, sc.SCARD_LEAVE_CARD)
            raise self.error(status[0], "SCardStatus")
        return PcscTransport(self, hcard, protocol, bytes(status[4]))

    def close(self) -> None:
        self._drop_context()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PcscTransport:
    """An open connection to the card: `transmit(apdu) -> data ‖ SW1 SW2`."""

    def __init__(self, reader: PcscReader, hcard: int, protocol: int, atr: bytes = b"") -> None:
        self.reader = reader
        self.atr = atr                  # the card's answer to reset, as the reader reports it
        self._hcard: int | None = hcard
        self._protocol = protocol
        self._lock = threading.Lock()

    @property
    def protocol(self) -> str:
        return "T=1" if self._protocol == sc.SCARD_PROTOCOL_T1 else "T=0"

    def transmit(self, apdu: bytes) -> bytes:
        with self._lock:
            response = self._exchange(apdu)
            sw1, sw2 = response[-2], response[-1]
            if sw1 == 0x6C and len(apdu) >= 4:        # wrong Le: the card tells the right one
                response = self._exchange(bytes(apdu[:4]) + _case_le(apdu, sw2))
                sw1, sw2 = response[-2], response[-1]
            data = bytearray()
            for _ in range(64):                       # T=0 case 4: GET RESPONSE until done
                if sw1 != 0x61:
                    break
                data += response[:-2]
                response = self._exchange(bytes([0x00, 0xC0, 0x00, 0x00, sw2]))
                sw1, sw2 = response[-2], response[-1]
            return bytes(data) + response

    def _exchange(self, apdu: bytes) -> bytes:
        if self._hcard is None:
            raise CardFault("the card connection is closed")
        hresult, response = sc.SCardTransmit(self._hcard, self._protocol, list(apdu))
        if hresult != sc.SCARD_S_SUCCESS:
            raise self.reader.error(hresult, "SCardTransmit")
        if len(response) < 2:
            # No status word: vpcd answers so when the card left mid-command; a
            # real reader may too. pcscd notices a pulled card within a poll.
            if self.reader.wait_card(present=False, timeout_s=REMOVAL_SETTLE_S):
                raise CardRemoved(f"card removed from {self.reader.name} during a command")
            raise CardFault(f"card in {self.reader.name} gave no status word")
        return bytes(response)

    def close(self, reset: bool = True) -> None:
        """Disconnect; by default reset the card so that a verified PIN does not
        outlive our session."""
        with self._lock:
            hcard, self._hcard = self._hcard, None
        if hcard is not None:
            hresult = sc.SCardDisconnect(hcard, sc.SCARD_RESET_CARD if reset else sc.SCARD_LEAVE_CARD)
            if hresult != sc.SCARD_S_SUCCESS:
                log.debug("SCardDisconnect on %s: %s", self.reader.name, sc.SCardGetErrorMessage(hresult))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _case_le(apdu: bytes, le: int) -> bytes:
    """The body of `apdu` with its Le replaced by `le` (case 2 or 4)."""
    body = bytes(apdu[4:])
    if len(body) <= 1:
        return bytes([le])
    lc = body[0]
    return body[:1 + lc] + bytes([le])


class CardWatcher:
    """Calls `on_event(CardEvent)` from its own thread whenever a card enters or
    leaves one of `reader_names` (and once per card already present at start).
    If pcscd goes away it reports the cards as gone, calls `on_fault` with a
    ReaderFault, and reconnects every `retry_s`."""

    def __init__(self, reader_names: tuple[str, ...] | list[str], on_event: Callable[[CardEvent], None],
                 *, on_fault: Callable[[ReaderFault], None] | None = None, retry_s: float = 1.0) -> None:
        self.reader_names = tuple(reader_names)
        self.on_event, self.on_fault, self.retry_s = on_event, on_fault, retry_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._ctx: int | None = None
        self._present: dict[str, bool] = {}
        self._thread = threading.Thread(target=self._run, name="pcsc-card-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        # SCardCancel only interrupts a wait already under way, so repeat it
        # until the thread is out (it checks the flag before each wait).
        for _ in range(max(1, int(timeout_s / 0.05))):
            with self._lock:
                if self._ctx is not None:
                    sc.SCardCancel(self._ctx)
            self._thread.join(0.05)
            if not self._thread.is_alive():
                return

    @property
    def present(self) -> dict[str, bool]:
        return dict(self._present)

    def _emit(self, reader: str, present: bool) -> None:
        if self._present.get(reader, False) == present:
            return
        self._present[reader] = present
        try:
            self.on_event(CardEvent(reader, present))
        except Exception:      # a listener's bug must not stop the watcher
            log.exception("card event listener failed")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._watch()
            except ReaderFault as fault:
                for reader in self.reader_names:
                    self._emit(reader, False)
                log.warning("card watcher: %s", fault)
                if self.on_fault is not None:
                    try:
                        self.on_fault(fault)
                    except Exception:
                        log.exception("card watcher fault listener failed")
                self._stop.wait(self.retry_s)
            finally:
                with self._lock:
                    ctx, self._ctx = self._ctx, None
                if ctx is not None:
                    sc.SCardReleaseContext(ctx)

    def _watch(self) -> None:
        hresult, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
        if hresult != sc.SCARD_S_SUCCESS:
            raise ReaderFault("PC/SC service unavailable") from _cause(hresult, "SCardEstablishContext")
        with self._lock:
            self._ctx = ctx
        states: dict[str, int] = {}
        while not self._stop.is_set():
            hresult, available = sc.SCardListReaders(ctx, [])
            if _code(hresult) in _SERVICE_GONE:
                raise ReaderFault("PC/SC service gone") from _cause(hresult, "SCardListReaders")
            watched = [r for r in self.reader_names if hresult == sc.SCARD_S_SUCCESS and r in available]
            for reader in self.reader_names:
                if reader not in watched:        # reader unplugged: no card in it either
                    states.pop(reader, None)
                    self._emit(reader, False)
            query = [(r, states.get(r, sc.SCARD_STATE_UNAWARE)) for r in watched]
            query.append((PNP_NOTIFICATION, states.get(PNP_NOTIFICATION, sc.SCARD_STATE_UNAWARE)))
            hresult, result = sc.SCardGetStatusChange(ctx, sc.INFINITE, query)
            code = _code(hresult)
            if code in (sc.SCARD_E_CANCELLED, sc.SCARD_E_TIMEOUT, sc.SCARD_E_UNKNOWN_READER):
                continue      # stop requested, or the reader list changed under us
            if hresult != sc.SCARD_S_SUCCESS:
                raise ReaderFault("PC/SC service gone") from _cause(hresult, "SCardGetStatusChange")
            for reader, event_state, _atr in result:
                states[reader] = event_state
                if reader != PNP_NOTIFICATION:
                    self._emit(reader, bool(event_state & sc.SCARD_STATE_PRESENT))
