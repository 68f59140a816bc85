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

import json
from collections.abc import Callable
import os
import threading
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Literal, Self

from common.epurse_issuer import (DEMO_ISSUER_KEYS, load_mac1, load_mac2, load_tac, online_session_key,
                                  purchase_mac1, purchase_mac2, purchase_sk, purchase_tac, PurseKeys,
                                  unload_mac3)
from common.epurse import TxnType, u16, u32, Wallet
from common.demo_cards import DemoIcCard, ED_MAX, EP_MAX
from kiosk.devices.sim.cpu_card_data import (ALG_ID, ATR, Apdu, CardPulled, CardState, DF_NAME, FID, FaultHook,
                                             KEY_INDEX, KEY_VERSION, LOG_RECORDS, LOG_RECORD_LEN, LogRecord,
                                             PIN_TRIES, PROOFS_KEPT, Pending, Proof, PurseState, SW_BAD_DATA,
                                             SW_CONDITIONS, SW_FILE_NOT_FOUND, SW_INSUFFICIENT,
                                             SW_KEY_NOT_FOUND, SW_MAC_INVALID, SW_OK, SW_PIN_BLOCKED,
                                             SW_PROOF_UNAVAILABLE, SW_PURSE_MAXIMUM, SW_RECORD_NOT_FOUND,
                                             SW_SECURITY, SW_UNKNOWN_CLA, SW_UNKNOWN_INS, SW_WRONG_LENGTH,
                                             SW_WRONG_P1P2, StatusWord, decode_pin, encode_pin)


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
        self._pending: Pending | None = None

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
                answer = self._dispatch(Apdu.parse(bytes(apdu)))
            except StatusWord as status:
                answer = status.sw
            if verdict == "after":
                self._end_session()
                raise CardPulled(applied=True)
            return answer

    def _dispatch(self, cmd: Apdu) -> bytes:
        if cmd.cla not in (0x00, 0x80):
            raise StatusWord(SW_UNKNOWN_CLA)
        handler = _HANDLERS.get((cmd.cla, cmd.ins))
        if handler is None:
            raise StatusWord(SW_UNKNOWN_INS)
        return handler(self, cmd)

    def _select(self, cmd: Apdu) -> bytes:
        self._pending = None
        by_fid = (cmd.p1, cmd.p2, cmd.data) == (0x00, 0x00, FID)
        by_name = (cmd.p1, cmd.p2, cmd.data) == (0x04, 0x00, DF_NAME)
        if not (by_fid or by_name):
            raise StatusWord(SW_FILE_NOT_FOUND)
        inner = b"\x84" + bytes([len(DF_NAME)]) + DF_NAME + bytes.fromhex("A5038801" "15")
        return b"\x6F" + bytes([len(inner)]) + inner + SW_OK

    def _read_binary(self, cmd: Apdu) -> bytes:
        if not cmd.p1 & 0x80:
            raise StatusWord(SW_WRONG_P1P2)      # only by short file identifier
        if cmd.p1 & 0x1F != 0x15:
            raise StatusWord(SW_FILE_NOT_FOUND)
        info = self.app_info()
        if cmd.data:
            raise StatusWord(SW_WRONG_LENGTH)
        if cmd.p2 >= len(info):
            raise StatusWord(SW_WRONG_P1P2)     # offset beyond the file
        rest = info[cmd.p2:]
        wanted = len(rest) if cmd.le in (None, 256) else cmd.le
        if wanted > len(rest):
            raise StatusWord(SW_WRONG_LENGTH)
        return rest[:wanted] + SW_OK

    def _read_record(self, cmd: Apdu) -> bytes:
        if cmd.p2 & 0x07 != 0x04 or cmd.p1 == 0:
            raise StatusWord(SW_WRONG_P1P2)      # record number nn in P1
        if cmd.p2 >> 3 != 0x18:
            raise StatusWord(SW_FILE_NOT_FOUND)
        cmd.expect(0, LOG_RECORD_LEN)
        if cmd.p1 > len(self._state.log):
            raise StatusWord(SW_RECORD_NOT_FOUND)
        return bytes.fromhex(self._state.log[cmd.p1 - 1]) + SW_OK

    def _verify(self, cmd: Apdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0, 0):
            raise StatusWord(SW_WRONG_P1P2)
        cmd.expect(range(2, 7))
        self._check_pin(decode_pin(cmd.data))
        return SW_OK

    def _check_pin(self, pin: str) -> None:
        s = self._state
        if s.pin_tries_left == 0:
            raise StatusWord(SW_PIN_BLOCKED)
        if pin != s.pin:
            s.pin_tries_left -= 1
            self._pin_ok = False
            self._save()
            raise StatusWord(SW_PIN_BLOCKED if s.pin_tries_left == 0 else bytes([0x63, 0xC0 | s.pin_tries_left]))
        if s.pin_tries_left != PIN_TRIES:
            s.pin_tries_left = PIN_TRIES
            self._save()
        self._pin_ok = True

    def _change_pin(self, cmd: Apdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0x01, 0x00):
            raise StatusWord(SW_WRONG_P1P2)
        cmd.expect(range(5, 14))
        old, sep, new = cmd.data.partition(b"\xFF")
        if not sep:
            raise StatusWord(SW_BAD_DATA)
        new_pin = decode_pin(new)        # a bad new PIN must not cost a try
        if self._state.pin_tries_left == 0:
            raise StatusWord(SW_PIN_BLOCKED)
        self._check_pin(decode_pin(old))
        self._state.pin = new_pin
        self._save()
        return SW_OK

    def _get_balance(self, cmd: Apdu) -> bytes:
        if cmd.p1 != 0 or cmd.p2 not in (1, 2):
            raise StatusWord(SW_WRONG_P1P2)
        cmd.expect(0, 4)
        return u32(self._state.purse(Wallet(cmd.p2)).balance) + SW_OK

    def _initialize(self, cmd: Apdu) -> bytes:
        kinds: dict[int, Literal["load", "purchase", "unload"]] = {0x00: "load", 0x01: "purchase", 0x05: "unload"}
        kind = kinds.get(cmd.p1)
        if kind is None or cmd.p2 not in (1, 2) or (kind == "unload" and cmd.p2 != Wallet.ED):
            raise StatusWord(SW_WRONG_P1P2)
        cmd.expect(0x0B, 0x0F if kind == "purchase" else 0x10)
        self._pending = None
        wallet = Wallet(cmd.p2)
        key_index, amount, term_id = cmd.data[0], int.from_bytes(cmd.data[1:5], "big"), cmd.data[5:11]
        if wallet is Wallet.ED and not self._pin_ok:
            raise StatusWord(SW_SECURITY)
        if key_index != KEY_INDEX:
            raise StatusWord(SW_KEY_NOT_FOUND)
        purse = self._state.purse(wallet)
        if kind == "load" and purse.balance + amount > purse.maximum:
            raise StatusWord(SW_PURSE_MAXIMUM)
        if kind != "load" and purse.balance < amount:
            raise StatusWord(SW_INSUFFICIENT)
        random = os.urandom(4)
        if kind == "purchase":
            txn_type = TxnType.purchase(wallet)
            self._pending = Pending(kind, wallet, txn_type, amount, term_id, purse.offline_counter, random)
            return (u32(purse.balance) + u16(purse.offline_counter) + bytes(3)
                    + bytes([KEY_VERSION, ALG_ID]) + random + SW_OK)
        txn_type, key = ((TxnType.load(wallet), self._keys.dlk) if kind == "load"
                         else (TxnType.UNLOAD, self._keys.duk))
        sk = online_session_key(key, random, purse.online_counter)
        mac1 = load_mac1(sk, purse.balance, amount, txn_type, term_id)
        self._pending = Pending(kind, wallet, txn_type, amount, term_id, purse.online_counter, random, sk)
        return (u32(purse.balance) + u16(purse.online_counter) + bytes([KEY_VERSION, ALG_ID])
                + random + mac1 + SW_OK)

    def _take_pending(self, kind: str) -> Pending:
        pending = self._pending
        self._pending = None          # used or voided, never twice
        if pending is None or pending.kind != kind:
            raise StatusWord(SW_CONDITIONS)
        if pending.wallet is Wallet.ED and not self._pin_ok:
            raise StatusWord(SW_SECURITY)
        return pending

    def _credit_load(self, cmd: Apdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0, 0):
            raise StatusWord(SW_WRONG_P1P2)
        cmd.expect(0x0B, 4)
        p = self._take_pending("load")
        when, mac2 = cmd.data[:7], cmd.data[7:11]
        if mac2 != load_mac2(p.session_key, p.amount, p.txn_type, p.term_id, when):
            raise StatusWord(SW_MAC_INVALID)
        purse = self._state.purse(p.wallet)
        purse.balance += p.amount
        tac = load_tac(self._keys.dtk, purse.balance, p.counter, p.amount, p.txn_type, p.term_id, when)
        purse.online_counter += 1
        self._record(p, when, mac2, tac)
        return tac + SW_OK

    def _debit_or_unload(self, cmd: Apdu) -> bytes:
        if cmd.p1 == 0x01 and cmd.p2 == 0:
            return self._debit_purchase(cmd)
        if cmd.p1 == 0x03 and cmd.p2 == 0:
            return self._unload(cmd)
        raise StatusWord(SW_WRONG_P1P2)

    def _debit_purchase(self, cmd: Apdu) -> bytes:
        cmd.expect(0x0F, 8)
        p = self._take_pending("purchase")
        term_txn_no, when, mac1 = int.from_bytes(cmd.data[:4], "big"), cmd.data[4:11], cmd.data[11:15]
        sk = purchase_sk(self._keys.dpk, p.random, p.counter, term_txn_no)
        if mac1 != purchase_mac1(sk, p.amount, p.txn_type, p.term_id, when):
            raise StatusWord(SW_MAC_INVALID)
        purse = self._state.purse(p.wallet)
        purse.balance -= p.amount
        purse.offline_counter += 1
        mac2 = purchase_mac2(sk, p.amount)
        tac = purchase_tac(self._keys.dtk, p.amount, p.txn_type, p.term_id, term_txn_no, when)
        self._record(p, when, mac2, tac)
        return tac + mac2 + SW_OK

    def _unload(self, cmd: Apdu) -> bytes:
        cmd.expect(0x0B, 4)
        p = self._take_pending("unload")
        when, mac2 = cmd.data[:7], cmd.data[7:11]
        if mac2 != load_mac2(p.session_key, p.amount, TxnType.UNLOAD, p.term_id, when):
            raise StatusWord(SW_MAC_INVALID)
        purse = self._state.purse(p.wallet)
        purse.balance -= p.amount
        mac3 = unload_mac3(p.session_key, purse.balance, p.counter, p.amount, p.term_id, when)
        purse.online_counter += 1
        self._record(p, when, mac2, mac3)
        return mac3 + SW_OK

    def _record(self, p: Pending, when: bytes, mac2: bytes, tac: bytes) -> None:
        """Log and proof of a write, then save: one atomic file replace."""
        s = self._state
        record = LogRecord(p.counter, 0, p.amount, p.txn_type, p.term_id, when)
        s.log = [record.encode().hex().upper()] + s.log[:LOG_RECORDS - 1]
        s.proofs = [Proof(p.txn_type, p.counter, mac2.hex().upper(), tac.hex().upper())] + s.proofs[:PROOFS_KEPT - 1]
        self._save()

    def _transaction_proof(self, cmd: Apdu) -> bytes:
        if cmd.p1 != 0 or cmd.p2 not in set(TxnType):
            raise StatusWord(SW_WRONG_P1P2)
        cmd.expect(2, 8)
        counter = int.from_bytes(cmd.data, "big")
        for proof in self._state.proofs:
            if (proof.txn_type, proof.counter) == (cmd.p2, counter):
                return bytes.fromhex(proof.mac2) + bytes.fromhex(proof.tac) + SW_OK
        raise StatusWord(SW_PROOF_UNAVAILABLE)

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


_HANDLERS: dict[tuple[int, int], Callable[[VirtualCpuCard, Apdu], bytes]] = {
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
