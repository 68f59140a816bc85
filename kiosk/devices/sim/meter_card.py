"""A virtual prepaid meter user card (DESIGN §5 "Prepaid meter user card",
docs/meters.md): the DF `ESTATE.METER` with EF 01 (purchase) and EF 02 (meter
return), GET CHALLENGE, the secure write of EF 01 checked with the card's own
UK, and the meter's plain write of EF 02.

`process(apdu) -> response` is pure apart from saving the card's state, so
tests and the simulated meter (kiosk/devices/sim/meter.py) drive it directly;
`kiosk.devices.sim.vpcd` puts it behind pcscd like the CPU cards. The state
lives in `<cards dir>/meters/<meter number>.json` (a folder of its own, so the
CPU cards' listing never meets it), rewritten atomically after every write.

Choices where the contract is silent (ours, docs/meters.md): the card answers
without a prior SELECT; a challenge stays good until the next write attempt of
EF 01 (right or wrong), the next GET CHALLENGE, a power-off or a reset -- reads
leave it alone; the card writes whatever 20 bytes the MAC covers (the meter
checks the image, not the card); a secure write of anything but EF 01 answers
6A86; EF 02 is written whole (offset 0, 24 bytes).

`fault` (tests): as the CPU card's, a callable given each C-APDU answering
None, "before" or "after"; process() then raises CardPulled."""
from __future__ import annotations

import functools
import json
import operator
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

from common.meter_card import (CHALLENGE_LEN, DF_NAME, MAC_LEN, PURCHASE_LEN, RETURN_LEN, SFI_PURCHASE,
                               SFI_RETURN, MeterReturn, Purchase, Utility, check_meter_number)
from common.meter_keys import DEMO_METER_MASTERS, MeterKeys, write_mac
from kiosk.devices.sim.cpu_card_data import (SW_FILE_NOT_FOUND, SW_MAC_INVALID, SW_OK, SW_SECURITY,
                                             SW_UNKNOWN_CLA, SW_UNKNOWN_INS, SW_WRONG_LENGTH, SW_WRONG_P1P2, Apdu,
                                             CardPulled, FaultHook, StatusWord)

METERS_DIR = "meters"
SW_NO_CHALLENGE = b"\x69\x84"
_ATR_BODY = bytes([0x8C, 0x01]) + b"ESTATE-METER"
ATR = b"\x3B" + _ATR_BODY + bytes([functools.reduce(operator.xor, _ATR_BODY)])


@dataclass
class MeterCardState:
    meter: str              # 12 digits
    utility: int
    holder: str
    name: str
    uk: str                 # the card's own update key, hex
    ef01: str               # hex, 20 bytes
    ef02: str               # hex, 24 bytes

    def to_json(self) -> dict[str, Any]:
        return {"format": 1, "type": "meter", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MeterCardState:
        data = {k: v for k, v in data.items() if k not in ("format", "type")}
        return cls(**data)


def meter_card_path(cards_dir: Path, meter: str) -> Path:
    return Path(cards_dir) / METERS_DIR / f"{check_meter_number(meter)}.json"


class VirtualMeterCard:
    """One meter user card. Thread-safe like the CPU card: `process` runs in the
    vpcd slot's thread while a test, the CLI or the meter reads the state."""

    atr = ATR

    def __init__(self, state: MeterCardState, path: Path | None = None) -> None:
        self.path = path
        self.fault: FaultHook | None = None
        self.challenges: Callable[[], bytes] = lambda: os.urandom(CHALLENGE_LEN)   # tests fix it
        self._state = state
        self._uk = bytes.fromhex(state.uk)
        self._lock = threading.RLock()
        self._challenge: bytes | None = None

    # --- creation ---------------------------------------------------------------
    @classmethod
    def create(cls, cards_dir: Path | None, *, meter: str, utility: Utility, holder: str = "", name: str = "",
               masters: MeterKeys = DEMO_METER_MASTERS) -> Self:
        """Issue a blank card (both files all 00) for `meter` and save it under
        `cards_dir` (None: in memory only); FileExistsError if its file exists."""
        keys = masters.for_meter(meter)
        state = MeterCardState(meter=meter, utility=int(Utility(utility)), holder=holder, name=name,
                               uk=keys.uk.hex().upper(), ef01="00" * PURCHASE_LEN, ef02="00" * RETURN_LEN)
        path = None
        if cards_dir is not None:
            path = meter_card_path(cards_dir, meter)
            if path.exists():
                raise FileExistsError(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        card = cls(state, path)
        card._save()
        return card

    @classmethod
    def load(cls, path: Path) -> Self:
        with open(path, encoding="utf-8") as fh:
            return cls(MeterCardState.from_json(json.load(fh)), Path(path))

    @classmethod
    def in_folder(cls, cards_dir: Path, meter: str) -> Self:
        return cls.load(meter_card_path(cards_dir, meter))

    # --- read-only views (CLI, tests) --------------------------------------------
    @property
    def meter(self) -> str:
        return self._state.meter

    serial = meter          # what `kiosk sim card insert` prints

    @property
    def utility(self) -> Utility:
        return Utility(self._state.utility)

    @property
    def holder(self) -> str:
        return self._state.holder

    @property
    def name(self) -> str:
        return self._state.name

    def ef01(self) -> bytes:
        with self._lock:
            return bytes.fromhex(self._state.ef01)

    def ef02(self) -> bytes:
        with self._lock:
            return bytes.fromhex(self._state.ef02)

    def purchase(self) -> Purchase:
        return Purchase.decode(self.ef01())

    def meter_return(self) -> MeterReturn:
        return MeterReturn.decode(self.ef02())

    # --- power ------------------------------------------------------------------
    def power_off(self) -> None:
        with self._lock:
            self._challenge = None

    reset = power_off

    # --- the card ---------------------------------------------------------------
    def process(self, apdu: bytes) -> bytes:
        """One C-APDU in, its R-APDU out; CardPulled when the fault hook pulls the card."""
        with self._lock:
            verdict = self.fault(apdu) if self.fault is not None else None
            if verdict not in (None, "before", "after"):
                raise ValueError(f"fault hook answered {verdict!r}")
            if verdict == "before":
                self.power_off()
                raise CardPulled(applied=False)
            try:
                answer = self._dispatch(Apdu.parse(bytes(apdu)))
            except StatusWord as status:
                answer = status.sw
            if verdict == "after":
                self.power_off()
                raise CardPulled(applied=True)
            return answer

    def _dispatch(self, cmd: Apdu) -> bytes:
        if cmd.cla not in (0x00, 0x04):
            raise StatusWord(SW_UNKNOWN_CLA)
        handler = _HANDLERS.get((cmd.cla, cmd.ins))
        if handler is None:
            raise StatusWord(SW_UNKNOWN_INS)
        return handler(self, cmd)

    def _select(self, cmd: Apdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0x04, 0x00):
            raise StatusWord(SW_WRONG_P1P2)
        if cmd.data != DF_NAME:
            raise StatusWord(SW_FILE_NOT_FOUND)
        return SW_OK

    def _file(self, p1: int) -> tuple[str, int]:
        if not p1 & 0x80:
            raise StatusWord(SW_WRONG_P1P2)      # only by short file identifier
        sfi = p1 & 0x1F
        if sfi == SFI_PURCHASE:
            return "ef01", PURCHASE_LEN
        if sfi == SFI_RETURN:
            return "ef02", RETURN_LEN
        raise StatusWord(SW_FILE_NOT_FOUND)

    def _read_binary(self, cmd: Apdu) -> bytes:
        name, _ = self._file(cmd.p1)
        content = bytes.fromhex(getattr(self._state, name))
        if cmd.data:
            raise StatusWord(SW_WRONG_LENGTH)
        if cmd.p2 >= len(content):
            raise StatusWord(SW_WRONG_P1P2)
        rest = content[cmd.p2:]
        wanted = len(rest) if cmd.le in (None, 256) else cmd.le
        if wanted > len(rest):
            raise StatusWord(SW_WRONG_LENGTH)
        return rest[:wanted] + SW_OK

    def _get_challenge(self, cmd: Apdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0, 0):
            raise StatusWord(SW_WRONG_P1P2)
        cmd.expect(0, CHALLENGE_LEN)
        if cmd.le != CHALLENGE_LEN:
            raise StatusWord(SW_WRONG_LENGTH)
        challenge = bytes(self.challenges())
        if len(challenge) != CHALLENGE_LEN:
            raise ValueError("a challenge is 4 bytes")
        self._challenge = challenge
        return challenge + SW_OK

    def _secure_write(self, cmd: Apdu) -> bytes:
        challenge, self._challenge = self._challenge, None       # one attempt, whatever its outcome
        if challenge is None:
            raise StatusWord(SW_NO_CHALLENGE)
        if (cmd.p1, cmd.p2) != (0x80 | SFI_PURCHASE, 0x00):
            raise StatusWord(SW_WRONG_P1P2)
        cmd.expect(PURCHASE_LEN + MAC_LEN)
        image, mac = cmd.data[:PURCHASE_LEN], cmd.data[PURCHASE_LEN:]
        if mac != write_mac(self._uk, challenge, image):
            raise StatusWord(SW_MAC_INVALID)
        self._state.ef01 = image.hex().upper()
        self._save()
        return SW_OK

    def _plain_write(self, cmd: Apdu) -> bytes:
        name, length = self._file(cmd.p1)
        if name == "ef01":
            raise StatusWord(SW_SECURITY)        # EF 01 only with secure messaging
        if cmd.p2 != 0:
            raise StatusWord(SW_WRONG_P1P2)
        cmd.expect(length)
        self._state.ef02 = cmd.data.hex().upper()
        self._save()
        return SW_OK

    # --- storage ----------------------------------------------------------------
    def _save(self) -> None:
        """Temp file + fsync + rename + directory fsync, as the CPU card."""
        if self.path is None:
            return
        data = json.dumps(self._state.to_json(), ensure_ascii=False, indent=1).encode("utf-8")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


_HANDLERS: dict[tuple[int, int], Callable[[VirtualMeterCard, Apdu], bytes]] = {
    (0x00, 0xA4): VirtualMeterCard._select,
    (0x00, 0xB0): VirtualMeterCard._read_binary,
    (0x00, 0x84): VirtualMeterCard._get_challenge,
    (0x04, 0xD6): VirtualMeterCard._secure_write,
    (0x00, 0xD6): VirtualMeterCard._plain_write,
}
