"""A virtual MIFARE Classic 1K as a PC/SC contactless reader presents it: it
answers the Part 3 pseudo-APDUs of DESIGN §5 (class FF: get UID, load key,
authenticate, read, write, value operation, restore + transfer), checks the
keys and access bits of each sector's trailer, and reports the contract's ATR.
`kiosk.devices.sim.vpcd` puts it behind pcscd like the CPU cards.

The state lives in `<cards dir>/m1-<UID>.json` (64 blocks), rewritten
atomically after every write, so a card keeps its purse between runs.

Like the real chip, any `63 00` (a wrong key, an operation the access bits
forbid, a malformed value block, bad parameters of a known instruction) drops
the authentication held; an instruction not in the list (or a class other
than FF) answers `6A 81`. Block 0 is read-only. A value operation whose result
leaves the signed 32-bit range answers `63 00`.

`fault` (tests): as for the CPU card (cpu_card.py), a hook given each C-APDU
that can pull the card before or after it is applied."""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from common.onecard import (ATR, BLOCK_LEN, DEMO_MAP, KEY_LEN, KeyType, MalformedBlock, access_codes, is_trailer,
                            sector_of)
from common.onecard_blocks import EstateData, decode_value, encode_value, read_public_info
from common.onecard_keys import DEMO_ONECARD_KEYS, OneCardMasterKeys
from kiosk.devices.sim.cpu_card_data import CardPulled, FaultHook
from kiosk.devices.sim.m1_card_data import (BLOCKS, DATA_RIGHTS, TRAILER_RIGHTS, DataRights, M1State,
                                            OneCardProfile, personalise)

SW_OK = b"\x90\x00"
SW_FAILED = b"\x63\x00"
SW_UNSUPPORTED = b"\x6A\x81"
_INSTRUCTIONS = frozenset({0xCA, 0x82, 0x86, 0xB0, 0xD6, 0xD7})


class _Failed(Exception):
    def __init__(self, sw: bytes = SW_FAILED) -> None:
        super().__init__(sw.hex())
        self.sw = sw


@dataclass(frozen=True)
class _Auth:
    sector: int
    key_type: KeyType


class VirtualM1Card:
    """One card. Thread-safe: `process` runs in the vpcd slot's thread."""

    atr = ATR

    def __init__(self, state: M1State, path: Path | None = None) -> None:
        self.path = path
        self.fault: FaultHook | None = None
        self._state = state
        self._blocks = [bytes.fromhex(b) for b in state.blocks]
        self._lock = threading.RLock()
        self._key: bytes | None = None
        self._auth: _Auth | None = None

    # --- creation -------------------------------------------------------------------
    @staticmethod
    def file_for(folder: Path, uid: bytes | str) -> Path:
        text = uid.hex() if isinstance(uid, bytes) else uid
        return Path(folder) / f"m1-{text.upper()}.json"

    @classmethod
    def create(cls, folder: Path | None, profile: OneCardProfile, *, label: str = "",
               master: OneCardMasterKeys = DEMO_ONECARD_KEYS) -> Self:
        """Personalise a fresh card and save it (not saved with folder None);
        FileExistsError if its file exists."""
        blocks = personalise(profile, master)
        state = M1State(profile.uid.hex().upper(), [b.hex().upper() for b in blocks], label)
        path = None if folder is None else cls.file_for(folder, profile.uid)
        if path is not None:
            if path.exists():
                raise FileExistsError(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        card = cls(state, path)
        card._save()
        return card

    @classmethod
    def load(cls, path: Path) -> Self:
        with open(path, encoding="utf-8") as fh:
            return cls(M1State.from_json(json.load(fh)), Path(path))

    # --- views (CLI, tests) -----------------------------------------------------------
    @property
    def uid(self) -> bytes:
        return bytes.fromhex(self._state.uid)

    @property
    def label(self) -> str:
        return self._state.label

    @property
    def serial(self) -> str:
        """The UID in hex: what `kiosk sim card` names a one-card by."""
        return self._state.uid

    @property
    def holder(self) -> str:
        try:
            return EstateData.decode(self.block(DEMO_MAP.estate_block), self.block(DEMO_MAP.name_block)).holder
        except MalformedBlock:
            return "?"

    def dump(self) -> list[str]:
        """`kiosk sim card show`: what the card says, then every block by sector
        (the simulator's view: trailers with their keys)."""
        m = DEMO_MAP
        lines = [f"one-card {self.serial}  {self.holder}  {self.label}".rstrip()]
        try:
            estate = EstateData.decode(self.block(m.estate_block), self.block(m.name_block))
            lines.append(f"  house {estate.house}  household {estate.household_id}")
            purse, backup = (decode_value(self.block(b))[0] for b in (m.purse_block, m.backup_block))
            lines.append(f"  purse {purse} fen  backup {backup} fen")
            info, rewrite = read_public_info(self.block(m.public_block), self.block(m.public_inverse_block))
            lines.append(f"  public info: pointer {info.pointer}  count {info.count}  flag {info.flag:02X}  "
                         f"black {info.black:02X}  pending {info.pending_type:02X} {info.pending_amount} fen "
                         f"(balance before {info.balance_before})" + ("  [24/25 disagree]" if rewrite else ""))
        except MalformedBlock as exc:
            lines.append(f"  (malformed: {exc})")
        for n in range(BLOCKS):
            if n % 4 == 0:
                lines.append(f"  sector {n // 4:2}  {m.area_of(n // 4).name.lower()}")
            lines.append(f"    {n:2}  {self.block(n).hex(' ').upper()}" + ("  trailer" if is_trailer(n) else ""))
        return lines

    def block(self, n: int) -> bytes:
        with self._lock:
            return self._blocks[n]

    def set_block(self, n: int, data: bytes) -> None:
        """Tests and the bench: write a block past the access bits (a damaged
        or tampered card)."""
        if len(data) != BLOCK_LEN:
            raise ValueError("a block is 16 bytes")
        with self._lock:
            self._blocks[n] = bytes(data)
            self._save()

    # --- power ------------------------------------------------------------------------
    def power_off(self) -> None:
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._key, self._auth = None, None

    # --- the card ---------------------------------------------------------------------
    def process(self, apdu: bytes) -> bytes:
        with self._lock:
            verdict = self.fault(apdu) if self.fault is not None else None
            if verdict not in (None, "before", "after"):
                raise ValueError(f"fault hook answered {verdict!r}")
            if verdict == "before":
                self.reset()
                raise CardPulled(applied=False)
            try:
                answer = self._dispatch(bytes(apdu))
            except _Failed as failed:
                if failed.sw == SW_FAILED:
                    self._auth = None       # the chip halts: authenticate again
                answer = failed.sw
            if verdict == "after":
                self.reset()
                raise CardPulled(applied=True)
            return answer

    def _dispatch(self, apdu: bytes) -> bytes:
        if len(apdu) < 5 or apdu[0] != 0xFF:
            raise _Failed(SW_UNSUPPORTED)
        ins, p1, p2, body = apdu[1], apdu[2], apdu[3], apdu[4:]
        if ins not in _INSTRUCTIONS:
            raise _Failed(SW_UNSUPPORTED)
        if ins == 0xCA:
            if (p1, p2, body) != (0, 0, b"\x00"):
                raise _Failed(SW_UNSUPPORTED)    # only the UID (P1 00), not the ATS
            return self.uid + SW_OK
        if ins == 0x82:
            if (p1, p2) != (0, 0) or body[:1] != bytes([KEY_LEN]) or len(body) != 1 + KEY_LEN:
                raise _Failed()
            self._key = body[1:]
            return SW_OK
        data = _lc_data(body)
        if ins == 0x86:
            if (p1, p2) != (0, 0) or len(data) != 5 or data[:2] != b"\x01\x00" or data[4] != 0:
                raise _Failed()
            self._authenticate(data[2], data[3])
            return SW_OK
        if p1 != 0:
            raise _Failed()
        if ins == 0xB0:
            if body != bytes([BLOCK_LEN]):
                raise _Failed()
            return self._read(p2) + SW_OK
        if ins == 0xD6:
            if len(data) != BLOCK_LEN:
                raise _Failed()
            self._write(p2, data)
            return SW_OK
        if ins == 0xD7:
            if len(data) == 5 and data[0] in (1, 2):
                self._value_op(p2, data[0] == 1, int.from_bytes(data[1:], "big"))
            elif len(data) == 2 and data[0] == 3:
                self._restore_transfer(p2, data[1])
            else:
                raise _Failed()
            return SW_OK
        raise _Failed(SW_UNSUPPORTED)

    def _authenticate(self, block: int, key_type_byte: int) -> None:
        self._auth = None                   # a failed authentication drops the one held
        if block >= BLOCKS or key_type_byte not in (KeyType.A, KeyType.B) or self._key is None:
            raise _Failed()
        key_type = KeyType(key_type_byte)
        trailer = self._blocks[_trailer_of(block)]
        if (trailer[:6] if key_type is KeyType.A else trailer[10:]) != self._key:
            raise _Failed()
        self._auth = _Auth(sector_of(block), key_type)

    def _key_type_for(self, block: int) -> KeyType:
        """The key held for the block's sector; 63 00 without one."""
        if block >= BLOCKS or self._auth is None or self._auth.sector != sector_of(block):
            raise _Failed()
        return self._auth.key_type

    def _codes(self, block: int) -> tuple[int, int, int, int]:
        try:
            return access_codes(self._blocks[_trailer_of(block)][6:9])
        except MalformedBlock:
            raise _Failed() from None

    def _data_rights(self, block: int) -> DataRights:
        if is_trailer(block):
            raise _Failed()
        return DATA_RIGHTS[self._codes(block)[block % 4]]

    def _read(self, block: int) -> bytes:
        key = self._key_type_for(block)
        if is_trailer(block):
            rights = TRAILER_RIGHTS[self._codes(block)[3]]
            raw = self._blocks[block]
            return (bytes(6) + (raw[6:10] if key in rights.read_access else bytes(4))
                    + (raw[10:] if key in rights.read_key_b else bytes(6)))
        if key not in self._data_rights(block).read:
            raise _Failed()
        return self._blocks[block]

    def _write(self, block: int, data: bytes) -> None:
        key = self._key_type_for(block)
        if block == 0:
            raise _Failed()                 # the manufacturer block
        if is_trailer(block):
            rights = TRAILER_RIGHTS[self._codes(block)[3]]
            if not all(key in r for r in (rights.write_key_a, rights.write_access, rights.write_key_b)):
                raise _Failed()
            try:
                access_codes(data[6:9])     # never brick a sector with broken access bits
            except MalformedBlock:
                raise _Failed() from None
        elif key not in self._data_rights(block).write:
            raise _Failed()
        self._store(block, data)

    def _value_op(self, block: int, increment: bool, operand: int) -> None:
        key = self._key_type_for(block)
        rights = self._data_rights(block)
        if key not in (rights.increment if increment else rights.decrement) or operand > 2**31 - 1:
            raise _Failed()
        value, adr = self._value(block)
        result = value + operand if increment else value - operand
        if not -2**31 <= result <= 2**31 - 1:
            raise _Failed()
        self._store(block, encode_value(result, adr))

    def _restore_transfer(self, source: int, target: int) -> None:
        key = self._key_type_for(source)
        if sector_of(target) != sector_of(source) or key not in self._data_rights(source).decrement \
                or key not in self._data_rights(target).decrement:
            raise _Failed()
        self._value(source)
        self._store(target, self._blocks[source])

    def _value(self, block: int) -> tuple[int, int]:
        try:
            return decode_value(self._blocks[block])
        except MalformedBlock:
            raise _Failed() from None

    def _store(self, block: int, data: bytes) -> None:
        self._blocks[block] = bytes(data)
        self._save()

    # --- storage ------------------------------------------------------------------------
    def _save(self) -> None:
        """Temp file + fsync + rename: the old card or the new one, never half."""
        self._state.blocks = [b.hex().upper() for b in self._blocks]
        if self.path is None:
            return
        data = json.dumps(self._state.to_json(), ensure_ascii=False, indent=1).encode("utf-8")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def _trailer_of(block: int) -> int:
    return block | 3


def _lc_data(body: bytes) -> bytes:
    """The data of a case 3 body (Lc ‖ data); empty if the length disagrees
    (each instruction then refuses the wrong length)."""
    return body[1:] if body and body[0] == len(body) - 1 else b""
