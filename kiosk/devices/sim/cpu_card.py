"""A virtual CPU card with the PBOC-style e-purse of docs/cards.md §2: the card
side of every APDU listed there, with the card's own diversified keys.

`process(apdu) -> response` is pure apart from saving the card's state, so the
tests drive it directly; `kiosk.devices.sim.vpcd` puts it behind pcscd. The
state lives in `<cards dir>/<serial>.json` (the simulator's own storage, PIN
included), rewritten atomically after every change, so a card keeps its
balances, counters, PIN tries and log between runs.

Choices where the contract is silent (ours): each wallet (ED, EP) has its own
online and offline counter, starting at 0; the card answers commands without a
prior SELECT; a SELECT, another INITIALIZE, a failed MAC check, a power-off and
a reset each void a pending initialize; the wrong PIN that uses the last try
answers 6983 (not 63C0); a malformed PIN field answers 6A80 and costs no try.

`fault` (tests): a callable given each C-APDU, answering None, "before" (the
card is pulled before it sees the command) or "after" (applied and saved, then
pulled before the answer leaves); process() then raises CardPulled."""
from __future__ import annotations

import functools
import json
import operator
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, Self

from common.epurse_issuer import (DEMO_ISSUER_KEYS, load_mac1, load_mac2, load_tac, online_session_key,
                                  purchase_mac1, purchase_mac2, purchase_sk, purchase_tac, PurseKeys,
                                  unload_mac3)
from common.epurse import TxnType, u16, u32, Wallet
from common.demo_cards import DemoIcCard, ED_MAX, EP_MAX

DF_NAME = b"ESTATE.EPURSE"
FID = bytes.fromhex("3F01")
# Answer to reset of a T=1-only contact card: TS 3B, T0 8C (TD1 follows, 12
# historical bytes), TD1 01 (T=1, nothing more), the historical bytes, TCK.
# TCK is the XOR of T0..the last historical byte.
_ATR_BODY = bytes([0x8C, 0x01]) + b"ESTATE-PURSE"
ATR = b"\x3B" + _ATR_BODY + bytes([functools.reduce(operator.xor, _ATR_BODY)])

ISSUER_ID = bytes.fromhex("0000260100000000")
KEY_INDEX = 1            # the only key index the card holds (others: 9403)
KEY_VERSION = 0x01
ALG_ID = 0x00            # 3DES session keys, single-DES MACs
PIN_TRIES = 3
LOG_RECORDS = 10
PROOFS_KEPT = 10
LOG_RECORD_LEN = 23

# Status words
SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY = b"\x69\x82"           # PIN not verified
SW_PIN_BLOCKED = b"\x69\x83"
SW_CONDITIONS = b"\x69\x85"         # credit / debit / unload without its initialize
SW_BAD_DATA = b"\x6A\x80"
SW_FILE_NOT_FOUND = b"\x6A\x82"
SW_RECORD_NOT_FOUND = b"\x6A\x83"
SW_WRONG_P1P2 = b"\x6A\x86"
SW_UNKNOWN_INS = b"\x6D\x00"
SW_UNKNOWN_CLA = b"\x6E\x00"
SW_MAC_INVALID = b"\x93\x02"
SW_INSUFFICIENT = b"\x94\x01"
SW_PURSE_MAXIMUM = b"\x94\x02"
SW_KEY_NOT_FOUND = b"\x94\x03"
SW_PROOF_UNAVAILABLE = b"\x94\x06"

FaultVerdict = Literal["before", "after"] | None
FaultHook = Callable[[bytes], FaultVerdict]


class CardPulled(Exception):
    """The fault hook pulled the card: before the command (nothing applied) or
    after it was applied and saved (the answer never leaves)."""

    def __init__(self, applied: bool) -> None:
        super().__init__("card pulled after the command was applied" if applied
                         else "card pulled before the command")
        self.applied = applied


class _Status(Exception):
    def __init__(self, sw: bytes) -> None:
        super().__init__(sw.hex())
        self.sw = sw


# --- PIN encoding -------------------------------------------------------------
def encode_pin(pin: str) -> bytes:
    """BCD, padded with F to whole bytes (docs/cards.md §2)."""
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError("a card PIN is 4 to 12 digits")
    return bytes.fromhex(pin + "F" * (len(pin) % 2))


def _decode_pin(field_: bytes) -> str:
    digits = field_.hex().upper().removesuffix("F")
    if not (digits.isdigit() and 4 <= len(digits) <= 12):
        raise _Status(SW_BAD_DATA)
    return digits


# --- state --------------------------------------------------------------------
@dataclass
class PurseState:
    balance: int
    maximum: int
    online_counter: int = 0
    offline_counter: int = 0


@dataclass
class Proof:
    txn_type: int
    counter: int
    mac2: str      # hex
    tac: str       # hex: the TAC, or MAC3 for an unload


@dataclass(frozen=True)
class LogRecord:
    counter: int
    overdraft: int
    amount: int
    txn_type: int
    term_id: bytes
    when: bytes    # 7 BCD bytes

    def encode(self) -> bytes:
        return (u16(self.counter) + self.overdraft.to_bytes(3, "big") + u32(self.amount)
                + bytes([self.txn_type]) + self.term_id + self.when)

    @classmethod
    def decode(cls, raw: bytes) -> LogRecord:
        return cls(int.from_bytes(raw[0:2], "big"), int.from_bytes(raw[2:5], "big"),
                   int.from_bytes(raw[5:9], "big"), raw[9], raw[10:16], raw[16:23])


@dataclass
class CardState:
    serial: str                     # 20 hex digits, upper case
    holder: str
    name: str
    pin: str
    pin_tries_left: int
    ed: PurseState
    ep: PurseState
    keys: dict[str, str]            # the card's diversified keys, hex
    issuer_id: str = ISSUER_ID.hex().upper()
    start_date: str = ""            # YYYYMMDD
    expiry_date: str = ""
    log: list[str] = field(default_factory=list)        # encoded records, most recent first
    proofs: list[Proof] = field(default_factory=list)   # most recent first

    def to_json(self) -> dict[str, Any]:
        return {"format": 1, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CardState:
        data = dict(data)
        data.pop("format", None)
        data["ed"], data["ep"] = PurseState(**data["ed"]), PurseState(**data["ep"])
        data["proofs"] = [Proof(**p) for p in data.get("proofs", [])]
        return cls(**data)

    def purse(self, wallet: Wallet) -> PurseState:
        return self.ed if wallet == Wallet.ED else self.ep


@dataclass
class _Pending:
    """An INITIALIZE waiting for its CREDIT / DEBIT / UNLOAD (session only)."""
    kind: Literal["load", "purchase", "unload"]
    wallet: Wallet
    txn_type: TxnType
    amount: int
    term_id: bytes
    counter: int
    random: bytes
    session_key: bytes = b""        # load / unload: known at initialize


@dataclass(frozen=True)
class _Apdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None

    @classmethod
    def parse(cls, raw: bytes) -> _Apdu:
        """Short APDUs, cases 1-4; an inconsistent length is 6700."""
        if len(raw) < 4:
            raise _Status(SW_WRONG_LENGTH)
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2, b"", None)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, b"", body[0] or 256)
        lc = body[0]
        if lc == 0:         # extended length: not supported
            raise _Status(SW_WRONG_LENGTH)
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, body[1:], None)
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, body[1:-1], body[-1] or 256)
        raise _Status(SW_WRONG_LENGTH)

    def expect(self, lc: int | range, le: int | None = None) -> None:
        """Check Lc, and Le if given: absent, 00 (=256) or exactly `le` bytes."""
        ok_lc = len(self.data) in lc if isinstance(lc, range) else len(self.data) == lc
        ok_le = self.le is None or self.le == 256 or (le is not None and self.le == le)
        if not ok_lc or (le is None and self.le is not None) or not ok_le:
            raise _Status(SW_WRONG_LENGTH)


class VirtualCpuCard:
    """One card. Thread-safe: `process` runs in the vpcd slot's thread while a
    test or the CLI may read the state."""

    atr = ATR

    def __init__(self, state: CardState, path: Path | None = None) -> None:
        self.path = path
        self.fault: FaultHook | None = None
        self._state = state
        self._keys = PurseKeys.from_hex(**state.keys)
        self._lock = threading.RLock()
        self._pin_ok = False
        self._pending: _Pending | None = None

    # --- creation ---------------------------------------------------------------
    @classmethod
    def create(cls, folder: Path, *, serial: str, holder: str, pin: str, ed_balance: int = 0,
               ep_balance: int = 0, name: str = "", pin_tries_left: int = PIN_TRIES,
               ed_max: int = ED_MAX.fen, ep_max: int = EP_MAX.fen,
               issuer_keys: PurseKeys = DEMO_ISSUER_KEYS, issued: date) -> Self:
        """Personalise a new card, valid from `issued` to the end of the tenth year
        after, and save it; FileExistsError if its file exists."""
        serial = serial.upper()
        if len(serial) != 20 or any(c not in "0123456789ABCDEF" for c in serial):
            raise ValueError("the application serial number is 20 hex digits")
        encode_pin(pin)   # validates
        if not (0 <= ed_balance <= ed_max and 0 <= ep_balance <= ep_max):
            raise ValueError("a balance is outside 0..its wallet's maximum")
        if not 0 <= pin_tries_left <= PIN_TRIES:
            raise ValueError(f"PIN tries are 0..{PIN_TRIES}")
        path = Path(folder) / f"{serial}.json"
        if path.exists():
            raise FileExistsError(path)
        keys = issuer_keys.for_card(bytes.fromhex(serial))
        state = CardState(
            serial=serial, holder=holder, name=name, pin=pin, pin_tries_left=pin_tries_left,
            ed=PurseState(ed_balance, ed_max), ep=PurseState(ep_balance, ep_max),
            keys={k: getattr(keys, k).hex().upper() for k in ("dlk", "dpk", "duk", "dtk")},
            start_date=f"{issued:%Y%m%d}", expiry_date=f"{issued.year + 10}1231")
        card = cls(state, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        card._save()
        return card

    @classmethod
    def personalise(cls, demo: DemoIcCard, folder: Path, *, issued: date,
                    issuer_keys: PurseKeys = DEMO_ISSUER_KEYS) -> Self:
        """The demo card's file if it exists (its state survives runs), else a new
        card personalised from the demo entry, issued on `issued`."""
        path = Path(folder) / f"{demo.serial.upper()}.json"
        if path.exists():
            return cls.load(path)
        return cls.create(folder, serial=demo.serial, holder=demo.holder, pin=demo.pin, name=demo.name,
                          ed_balance=demo.ed_balance.fen, ep_balance=demo.ep_balance.fen,
                          pin_tries_left=demo.pin_tries_left, ed_max=demo.ed_max.fen,
                          ep_max=demo.ep_max.fen, issuer_keys=issuer_keys, issued=issued)

    @classmethod
    def load(cls, path: Path) -> Self:
        with open(path, encoding="utf-8") as fh:
            return cls(CardState.from_json(json.load(fh)), Path(path))

    @classmethod
    def in_folder(cls, folder: Path, serial: str) -> Self:
        return cls.load(Path(folder) / f"{serial.upper()}.json")

    # --- read-only views (CLI, tests) --------------------------------------------
    @property
    def serial(self) -> str:
        return self._state.serial

    @property
    def holder(self) -> str:
        return self._state.holder

    @property
    def name(self) -> str:
        return self._state.name

    @property
    def pin_tries_left(self) -> int:
        return self._state.pin_tries_left

    @property
    def keys(self) -> PurseKeys:
        return self._keys

    def purse(self, wallet: Wallet) -> PurseState:
        """A copy of the wallet's balance, maximum and counters."""
        with self._lock:
            return PurseState(**asdict(self._state.purse(wallet)))

    def balance(self, wallet: Wallet) -> int:
        return self.purse(wallet).balance

    def log_records(self) -> list[LogRecord]:
        """Most recent first."""
        with self._lock:
            return [LogRecord.decode(bytes.fromhex(r)) for r in self._state.log]

    def app_info(self) -> bytes:
        s = self._state
        return (bytes.fromhex(s.issuer_id) + b"\x01\x01" + bytes.fromhex(s.serial)
                + bytes.fromhex(s.start_date) + bytes.fromhex(s.expiry_date) + b"\x00\x00")

    # --- power ------------------------------------------------------------------
    def power_off(self) -> None:
        self._end_session()

    def reset(self) -> None:
        self._end_session()

    def _end_session(self) -> None:
        with self._lock:
            self._pin_ok = False
            self._pending = None

    # --- the card ---------------------------------------------------------------
    def process(self, apdu: bytes) -> bytes:
        """One C-APDU in, its R-APDU (data ‖ SW1 SW2) out. Raises CardPulled when
        the fault hook pulls the card."""
        with self._lock:
            verdict = self.fault(apdu) if self.fault is not None else None
            if verdict not in (None, "before", "after"):
                raise ValueError(f"fault hook answered {verdict!r}")
            if verdict == "before":
                self._end_session()
                raise CardPulled(applied=False)
            try:
                answer = self._dispatch(_Apdu.parse(bytes(apdu)))
            except _Status as status:
                answer = status.sw
            if verdict == "after":
                self._end_session()
                raise CardPulled(applied=True)
            return answer

    def _dispatch(self, cmd: _Apdu) -> bytes:
        if cmd.cla not in (0x00, 0x80):
            raise _Status(SW_UNKNOWN_CLA)
        handler = _HANDLERS.get((cmd.cla, cmd.ins))
        if handler is None:
            raise _Status(SW_UNKNOWN_INS)
        return handler(self, cmd)

    def _select(self, cmd: _Apdu) -> bytes:
        self._pending = None
        by_fid = (cmd.p1, cmd.p2, cmd.data) == (0x00, 0x00, FID)
        by_name = (cmd.p1, cmd.p2, cmd.data) == (0x04, 0x00, DF_NAME)
        if not (by_fid or by_name):
            raise _Status(SW_FILE_NOT_FOUND)
        inner = b"\x84" + bytes([len(DF_NAME)]) + DF_NAME + bytes.fromhex("A5038801" "15")
        return b"\x6F" + bytes([len(inner)]) + inner + SW_OK

    def _read_binary(self, cmd: _Apdu) -> bytes:
        if not cmd.p1 & 0x80:
            raise _Status(SW_WRONG_P1P2)      # only by short file identifier
        if cmd.p1 & 0x1F != 0x15:
            raise _Status(SW_FILE_NOT_FOUND)
        info = self.app_info()
        if cmd.data:
            raise _Status(SW_WRONG_LENGTH)
        if cmd.p2 >= len(info):
            raise _Status(SW_WRONG_P1P2)     # offset beyond the file
        rest = info[cmd.p2:]
        wanted = len(rest) if cmd.le in (None, 256) else cmd.le
        if wanted > len(rest):
            raise _Status(SW_WRONG_LENGTH)
        return rest[:wanted] + SW_OK

    def _read_record(self, cmd: _Apdu) -> bytes:
        if cmd.p2 & 0x07 != 0x04 or cmd.p1 == 0:
            raise _Status(SW_WRONG_P1P2)      # record number nn in P1
        if cmd.p2 >> 3 != 0x18:
            raise _Status(SW_FILE_NOT_FOUND)
        cmd.expect(0, LOG_RECORD_LEN)
        if cmd.p1 > len(self._state.log):
            raise _Status(SW_RECORD_NOT_FOUND)
        return bytes.fromhex(self._state.log[cmd.p1 - 1]) + SW_OK

    def _verify(self, cmd: _Apdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0, 0):
            raise _Status(SW_WRONG_P1P2)
        cmd.expect(range(2, 7))
        self._check_pin(_decode_pin(cmd.data))
        return SW_OK

    def _check_pin(self, pin: str) -> None:
        s = self._state
        if s.pin_tries_left == 0:
            raise _Status(SW_PIN_BLOCKED)
        if pin != s.pin:
            s.pin_tries_left -= 1
            self._pin_ok = False
            self._save()
            raise _Status(SW_PIN_BLOCKED if s.pin_tries_left == 0 else bytes([0x63, 0xC0 | s.pin_tries_left]))
        if s.pin_tries_left != PIN_TRIES:
            s.pin_tries_left = PIN_TRIES
            self._save()
        self._pin_ok = True

    def _change_pin(self, cmd: _Apdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0x01, 0x00):
            raise _Status(SW_WRONG_P1P2)
        cmd.expect(range(5, 14))
        old, sep, new = cmd.data.partition(b"\xFF")
        if not sep:
            raise _Status(SW_BAD_DATA)
        new_pin = _decode_pin(new)        # a bad new PIN must not cost a try
        if self._state.pin_tries_left == 0:
            raise _Status(SW_PIN_BLOCKED)
        self._check_pin(_decode_pin(old))
        self._state.pin = new_pin
        self._save()
        return SW_OK

    def _get_balance(self, cmd: _Apdu) -> bytes:
        if cmd.p1 != 0 or cmd.p2 not in (1, 2):
            raise _Status(SW_WRONG_P1P2)
        cmd.expect(0, 4)
        return u32(self._state.purse(Wallet(cmd.p2)).balance) + SW_OK

    def _initialize(self, cmd: _Apdu) -> bytes:
        kinds: dict[int, Literal["load", "purchase", "unload"]] = {0x00: "load", 0x01: "purchase", 0x05: "unload"}
        kind = kinds.get(cmd.p1)
        if kind is None or cmd.p2 not in (1, 2) or (kind == "unload" and cmd.p2 != Wallet.ED):
            raise _Status(SW_WRONG_P1P2)
        cmd.expect(0x0B, 0x0F if kind == "purchase" else 0x10)
        self._pending = None
        wallet = Wallet(cmd.p2)
        key_index, amount, term_id = cmd.data[0], int.from_bytes(cmd.data[1:5], "big"), cmd.data[5:11]
        if wallet is Wallet.ED and not self._pin_ok:
            raise _Status(SW_SECURITY)
        if key_index != KEY_INDEX:
            raise _Status(SW_KEY_NOT_FOUND)
        purse = self._state.purse(wallet)
        if kind == "load" and purse.balance + amount > purse.maximum:
            raise _Status(SW_PURSE_MAXIMUM)
        if kind != "load" and purse.balance < amount:
            raise _Status(SW_INSUFFICIENT)
        random = os.urandom(4)
        if kind == "purchase":
            txn_type = TxnType.purchase(wallet)
            self._pending = _Pending(kind, wallet, txn_type, amount, term_id, purse.offline_counter, random)
            return (u32(purse.balance) + u16(purse.offline_counter) + bytes(3)
                    + bytes([KEY_VERSION, ALG_ID]) + random + SW_OK)
        txn_type, key = ((TxnType.load(wallet), self._keys.dlk) if kind == "load"
                         else (TxnType.UNLOAD, self._keys.duk))
        sk = online_session_key(key, random, purse.online_counter)
        mac1 = load_mac1(sk, purse.balance, amount, txn_type, term_id)
        self._pending = _Pending(kind, wallet, txn_type, amount, term_id, purse.online_counter, random, sk)
        return (u32(purse.balance) + u16(purse.online_counter) + bytes([KEY_VERSION, ALG_ID])
                + random + mac1 + SW_OK)

    def _take_pending(self, kind: str) -> _Pending:
        pending = self._pending
        self._pending = None          # used or voided, never twice
        if pending is None or pending.kind != kind:
            raise _Status(SW_CONDITIONS)
        if pending.wallet is Wallet.ED and not self._pin_ok:
            raise _Status(SW_SECURITY)
        return pending

    def _credit_load(self, cmd: _Apdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0, 0):
            raise _Status(SW_WRONG_P1P2)
        cmd.expect(0x0B, 4)
        p = self._take_pending("load")
        when, mac2 = cmd.data[:7], cmd.data[7:11]
        if mac2 != load_mac2(p.session_key, p.amount, p.txn_type, p.term_id, when):
            raise _Status(SW_MAC_INVALID)
        purse = self._state.purse(p.wallet)
        purse.balance += p.amount
        tac = load_tac(self._keys.dtk, purse.balance, p.counter, p.amount, p.txn_type, p.term_id, when)
        purse.online_counter += 1
        self._record(p, when, mac2, tac)
        return tac + SW_OK

    def _debit_or_unload(self, cmd: _Apdu) -> bytes:
        if cmd.p1 == 0x01 and cmd.p2 == 0:
            return self._debit_purchase(cmd)
        if cmd.p1 == 0x03 and cmd.p2 == 0:
            return self._unload(cmd)
        raise _Status(SW_WRONG_P1P2)

    def _debit_purchase(self, cmd: _Apdu) -> bytes:
        cmd.expect(0x0F, 8)
        p = self._take_pending("purchase")
        term_txn_no, when, mac1 = int.from_bytes(cmd.data[:4], "big"), cmd.data[4:11], cmd.data[11:15]
        sk = purchase_sk(self._keys.dpk, p.random, p.counter, term_txn_no)
        if mac1 != purchase_mac1(sk, p.amount, p.txn_type, p.term_id, when):
            raise _Status(SW_MAC_INVALID)
        purse = self._state.purse(p.wallet)
        purse.balance -= p.amount
        purse.offline_counter += 1
        mac2 = purchase_mac2(sk, p.amount)
        tac = purchase_tac(self._keys.dtk, p.amount, p.txn_type, p.term_id, term_txn_no, when)
        self._record(p, when, mac2, tac)
        return tac + mac2 + SW_OK

    def _unload(self, cmd: _Apdu) -> bytes:
        cmd.expect(0x0B, 4)
        p = self._take_pending("unload")
        when, mac2 = cmd.data[:7], cmd.data[7:11]
        if mac2 != load_mac2(p.session_key, p.amount, TxnType.UNLOAD, p.term_id, when):
            raise _Status(SW_MAC_INVALID)
        purse = self._state.purse(p.wallet)
        purse.balance -= p.amount
        mac3 = unload_mac3(p.session_key, purse.balance, p.counter, p.amount, p.term_id, when)
        purse.online_counter += 1
        self._record(p, when, mac2, mac3)
        return mac3 + SW_OK

    def _record(self, p: _Pending, when: bytes, mac2: bytes, tac: bytes) -> None:
        """Log and proof of a write, then save: one atomic file replace."""
        s = self._state
        record = LogRecord(p.counter, 0, p.amount, p.txn_type, p.term_id, when)
        s.log = [record.encode().hex().upper()] + s.log[:LOG_RECORDS - 1]
        s.proofs = [Proof(p.txn_type, p.counter, mac2.hex().upper(), tac.hex().upper())] + s.proofs[:PROOFS_KEPT - 1]
        self._save()

    def _transaction_proof(self, cmd: _Apdu) -> bytes:
        if cmd.p1 != 0 or cmd.p2 not in set(TxnType):
            raise _Status(SW_WRONG_P1P2)
        cmd.expect(2, 8)
        counter = int.from_bytes(cmd.data, "big")
        for proof in self._state.proofs:
            if (proof.txn_type, proof.counter) == (cmd.p2, counter):
                return bytes.fromhex(proof.mac2) + bytes.fromhex(proof.tac) + SW_OK
        raise _Status(SW_PROOF_UNAVAILABLE)

    # --- storage ----------------------------------------------------------------
    def _save(self) -> None:
        """Temp file + fsync + rename + directory fsync: after a crash the file is
        either the old state or the new one, never half of each."""
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


_HANDLERS: dict[tuple[int, int], Callable[[VirtualCpuCard, _Apdu], bytes]] = {
    (0x00, 0xA4): VirtualCpuCard._select,
    (0x00, 0xB0): VirtualCpuCard._read_binary,
    (0x00, 0xB2): VirtualCpuCard._read_record,
    (0x00, 0x20): VirtualCpuCard._verify,
    (0x80, 0x5C): VirtualCpuCard._get_balance,
    (0x80, 0x50): VirtualCpuCard._initialize,
    (0x80, 0x52): VirtualCpuCard._credit_load,
    (0x80, 0x54): VirtualCpuCard._debit_or_unload,
    (0x80, 0x5E): VirtualCpuCard._change_pin,
    (0x80, 0x5A): VirtualCpuCard._transaction_proof,
}
