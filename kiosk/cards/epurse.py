"""The terminal side of the PBOC e-purse (docs/cards.md §2-§3, DESIGN §5).

`EPurse` turns each card step into one APDU and its answer into a dataclass;
status words become typed errors (kiosk.cards.apdu). It never holds a card key:
MAC1 of a purchase and MAC2 of a load/unload come from the card centre, and
the TAC/MAC2/MAC3 the card answers go back to it. Calls block: services run
them in a worker thread."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from kiosk.cards.apdu import (
    SW_MAC_NOT_AVAILABLE,
    SW_RECORD_NOT_FOUND,
    ApduTransport,
    Response,
    check,
    command,
    exchange,
)
from common.epurse import bcd_when, TxnType, u16, u32, Wallet
from kiosk.domain.errors import CardFault

MAX_AMOUNT = 2**31 - 1     # fen; the card's amounts are signed 4-byte values
LOG_RECORDS = 10           # the card's cyclic transaction log
FID_EPURSE = bytes.fromhex("3F01")


@dataclass(frozen=True, slots=True)
class AppInfo:
    """EF 0x15: what the card says about its application."""
    issuer_id: bytes
    app_type: int
    version: int
    serial: bytes            # 10 bytes; keys are diversified by the last 8
    start: date
    expiry: date

    @property
    def serial_hex(self) -> str:
        return self.serial.hex().upper()


@dataclass(frozen=True, slots=True)
class OnlineInit:
    """The answer to INITIALIZE FOR LOAD / UNLOAD."""
    balance: int
    counter: int             # online counter, before this transaction
    key_version: int
    alg_id: int
    random: bytes
    mac1: bytes


@dataclass(frozen=True, slots=True)
class PurchaseInit:
    """The answer to INITIALIZE FOR PURCHASE."""
    balance: int
    counter: int             # offline counter, before this transaction
    overdraft_limit: int
    key_version: int
    alg_id: int
    random: bytes


@dataclass(frozen=True, slots=True)
class LogRecord:
    counter: int
    overdraft: int
    amount: int
    txn_type: TxnType
    term_id: bytes
    when: datetime


class EPurse:
    """The e-purse application of the card behind `transport` (one session)."""

    def __init__(self, transport: ApduTransport) -> None:
        self._transport = transport
        self.apdu_count = 0      # APDUs sent through this object (benchmark)

    # --- reading -------------------------------------------------------------
    def select(self) -> None:
        """Select the e-purse DF by file id. 6A82 -> NotOurCard."""
        data = self._call("SELECT", command(0x00, 0xA4, 0x00, 0x00, FID_EPURSE))
        if data and data[0] != 0x6F:     # an FCI is a 6F template
            raise CardFault("SELECT: answer is not an FCI")

    def read_app_info(self) -> AppInfo:
        data = self._call("READ BINARY 15", command(0x00, 0xB0, 0x95, 0x00, le=0x1E), 30)
        return AppInfo(issuer_id=data[0:8], app_type=data[8], version=data[9], serial=data[10:20],
                       start=_bcd_date(data[20:24], "start date"), expiry=_bcd_date(data[24:28], "expiry"))

    def get_balance(self, wallet: Wallet) -> int:
        data = self._call("GET BALANCE", command(0x80, 0x5C, 0x00, _wallet(wallet), le=0x04), 4)
        return int.from_bytes(data, "big")

    def read_log(self, max_records: int = LOG_RECORDS) -> list[LogRecord]:
        """The most recent first, up to `max_records`; stops at the first record
        never written (6A83)."""
        if not 1 <= max_records <= LOG_RECORDS:
            raise ValueError(f"max_records must be 1..{LOG_RECORDS}")
        records = []
        for number in range(1, max_records + 1):
            what = f"READ RECORD {number}"
            response = self._send(command(0x00, 0xB2, number, 0xC4, le=0x17))
            if response.sw == SW_RECORD_NOT_FOUND:
                break
            records.append(_log_record(check(response, what, 23), what))
        return records

    # --- PIN -----------------------------------------------------------------
    def verify_pin(self, pin: str) -> None:
        """63Cx -> CardPinWrong(tries_left=x); 6983 -> CardPinBlocked."""
        self._call("VERIFY", command(0x00, 0x20, 0x00, 0x00, pin_bcd(pin)), 0)

    def change_pin(self, old: str, new: str) -> None:
        data = pin_bcd(old) + b"\xFF" + pin_bcd(new)
        self._call("CHANGE PIN", command(0x80, 0x5E, 0x01, 0x00, data), 0)

    # --- load (圈存) -----------------------------------------------------------
    def init_load(self, wallet: Wallet, amount: int, term_id: bytes, key_index: int = 1) -> OnlineInit:
        data = _init_data(key_index, amount, term_id)
        return _online_init(self._call("INITIALIZE FOR LOAD",
                                       command(0x80, 0x50, 0x00, _wallet(wallet), data, le=0x10), 16))

    def credit_load(self, when: datetime, mac2: bytes) -> bytes:
        """Returns the TAC."""
        data = _when(when) + _mac(mac2, "MAC2")
        return self._call("CREDIT FOR LOAD", command(0x80, 0x52, 0x00, 0x00, data, le=0x04), 4)

    # --- unload (圈提, passbook only) -------------------------------------------
    def init_unload(self, amount: int, term_id: bytes, key_index: int = 1) -> OnlineInit:
        data = _init_data(key_index, amount, term_id)
        return _online_init(self._call("INITIALIZE FOR UNLOAD",
                                       command(0x80, 0x50, 0x05, Wallet.ED, data, le=0x10), 16))

    def unload(self, when: datetime, mac2: bytes) -> bytes:
        """Returns MAC3."""
        data = _when(when) + _mac(mac2, "MAC2")
        return self._call("UNLOAD", command(0x80, 0x54, 0x03, 0x00, data, le=0x04), 4)

    # --- purchase --------------------------------------------------------------
    def init_purchase(self, wallet: Wallet, amount: int, term_id: bytes, key_index: int = 1) -> PurchaseInit:
        data = _init_data(key_index, amount, term_id)
        d = self._call("INITIALIZE FOR PURCHASE",
                       command(0x80, 0x50, 0x01, _wallet(wallet), data, le=0x0F), 15)
        return PurchaseInit(balance=int.from_bytes(d[0:4], "big"), counter=int.from_bytes(d[4:6], "big"),
                            overdraft_limit=int.from_bytes(d[6:9], "big"), key_version=d[9], alg_id=d[10],
                            random=d[11:15])

    def debit_purchase(self, term_txn_no: int, when: datetime, mac1: bytes) -> tuple[bytes, bytes]:
        """Returns (TAC, MAC2)."""
        if not 0 <= term_txn_no <= 0xFFFFFFFF:
            raise ValueError("terminal transaction number must fit 4 bytes")
        data = u32(term_txn_no) + _when(when) + _mac(mac1, "MAC1")
        answer = self._call("DEBIT FOR PURCHASE", command(0x80, 0x54, 0x01, 0x00, data, le=0x08), 8)
        return answer[:4], answer[4:]

    # --- tear recovery ---------------------------------------------------------
    def transaction_proof(self, txn_type: TxnType, counter: int) -> tuple[bytes, bytes] | None:
        """(MAC2, TAC) — for an unload (MAC2, MAC3) — of the transaction the
        card did with `counter` (the value its initialize answered), or None
        if the card did not apply it (9406)."""
        txn_type = TxnType(txn_type)
        if not 0 <= counter <= 0xFFFF:
            raise ValueError("counter must fit 2 bytes")
        what = "GET TRANSACTION PROVE"
        response = self._send(command(0x80, 0x5A, 0x00, txn_type, u16(counter), le=0x08))
        if response.sw == SW_MAC_NOT_AVAILABLE:
            return None
        data = check(response, what, 8)
        return data[:4], data[4:]

    # --- plumbing ----------------------------------------------------------------
    def _send(self, apdu: bytes) -> Response:
        self.apdu_count += 1
        return exchange(self._transport, apdu)

    def _call(self, what: str, apdu: bytes, data_len: int | None = None) -> bytes:
        return check(self._send(apdu), what, data_len)


# --- encoding and checks --------------------------------------------------------
def pin_bcd(pin: str) -> bytes:
    """A PIN of 4-12 digits as BCD, padded with F to whole bytes."""
    if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValueError("a card PIN is 4 to 12 digits")      # never echo the PIN itself
    return bytes.fromhex(pin + "F" * (len(pin) % 2))


def _init_data(key_index: int, amount: int, term_id: bytes) -> bytes:
    if not 0 <= key_index <= 0xFF:
        raise ValueError("key index must be one byte")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT:
        raise ValueError(f"amount must be a whole number of fen, 1..{MAX_AMOUNT}")
    if not isinstance(term_id, (bytes, bytearray)) or len(term_id) != 6:
        raise ValueError("terminal id must be 6 bytes")
    return bytes([key_index]) + u32(amount) + bytes(term_id)


def _wallet(wallet: Wallet) -> int:
    return Wallet(wallet).value       # ValueError for anything but ED (1) / EP (2)


def _when(when: datetime) -> bytes:
    if not isinstance(when, datetime) or not 1000 <= when.year <= 9999:
        raise ValueError("when must be a datetime with a 4-digit year")
    return bcd_when(when)


def _mac(mac: bytes, name: str) -> bytes:
    if not isinstance(mac, (bytes, bytearray)) or len(mac) != 4:
        raise ValueError(f"{name} must be 4 bytes")
    return bytes(mac)


def _online_init(d: bytes) -> OnlineInit:
    return OnlineInit(balance=int.from_bytes(d[0:4], "big"), counter=int.from_bytes(d[4:6], "big"),
                      key_version=d[6], alg_id=d[7], random=d[8:12], mac1=d[12:16])


def _bcd_date(raw: bytes, what: str) -> date:
    try:
        return datetime.strptime(_bcd_digits(raw, what), "%Y%m%d").date()
    except ValueError as exc:
        raise CardFault(f"{what}: not a date") from exc


def _bcd_digits(raw: bytes, what: str) -> str:
    digits = raw.hex()
    if not digits.isdigit():
        raise CardFault(f"{what}: not BCD")
    return digits


def _log_record(d: bytes, what: str) -> LogRecord:
    try:
        txn_type = TxnType(d[9])
    except ValueError as exc:
        raise CardFault(f"{what}: unknown transaction type {d[9]:02X}") from exc
    try:
        when = datetime.strptime(_bcd_digits(d[16:23], what), "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise CardFault(f"{what}: bad date/time") from exc
    return LogRecord(counter=int.from_bytes(d[0:2], "big"), overdraft=int.from_bytes(d[2:5], "big"),
                     amount=int.from_bytes(d[5:9], "big"), txn_type=txn_type, term_id=d[10:16], when=when)
