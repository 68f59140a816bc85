"""The PBOC e-purse's shared vocabulary (DESIGN §5): which wallet, which
transaction type, and the byte layouts of amounts, counters and times. The
terminal (kiosk/cards/epurse.py), the card centre and the virtual card all speak
it; the card keys and MACs are the issuer's (common/epurse_issuer.py).

Amounts and balances are 4-byte big-endian fen, counters 2 bytes, terminal id
6 bytes, `when` the 7 BCD bytes YYYYMMDD ‖ hhmmss."""
from __future__ import annotations

from datetime import datetime
from enum import IntEnum


class Wallet(IntEnum):
    """The P2 of GET BALANCE / INITIALIZE: electronic passbook or purse."""
    ED = 1   # 电子存折 passbook: PIN-protected, can be unloaded
    EP = 2   # 电子钱包 purse


class TxnType(IntEnum):
    ED_LOAD = 0x01
    EP_LOAD = 0x02
    UNLOAD = 0x03
    ED_PURCHASE = 0x05
    EP_PURCHASE = 0x06

    @staticmethod
    def load(wallet: Wallet) -> "TxnType":
        return TxnType.ED_LOAD if wallet is Wallet.ED else TxnType.EP_LOAD

    @staticmethod
    def purchase(wallet: Wallet) -> "TxnType":
        return TxnType.ED_PURCHASE if wallet is Wallet.ED else TxnType.EP_PURCHASE


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def bcd_when(when: datetime) -> bytes:
    """Date YYYYMMDD and time hhmmss in BCD: 7 bytes."""
    return bytes.fromhex(f"{when:%Y%m%d%H%M%S}")
