"""The demo set of BANK-8583-examples.md (../shared): keys, addresses, header,
terminal, and `hexjoin` for frames written field by field in the tests."""
from __future__ import annotations

from common.bank8583.framing import Header, Tpdu
from common.bank8583.keys import WorkingKeys

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
PIK = bytes.fromhex("11111111111111112222222222222222")
MAK = bytes.fromhex("33333333333333334444444444444444")
TDK = bytes.fromhex("55555555555555556666666666666666")
KEYS = WorkingKeys(PIK, MAK, TDK)

REQUEST_TPDU = Tpdu("0003", "0000")   # kiosk -> front-end: 60 0003 0000
REPLY_TPDU = REQUEST_TPDU.reply()     # 60 0000 0003
HEADER = Header(version="31")         # 60 31 0 0 000000

TERMINAL = "KIOSK001"                 # 41
MERCHANT = "898440350110001"          # 42
PAN = "6222020000000000017"
TRACK2 = "6222020000000000017=30121010000012345"
PIN = "123456"
BILL_REF = "H=3-2-1202;P=2026-10,2026-11"


def hexjoin(*parts: str) -> bytes:
    """Hex written in pieces (one per field, spaces allowed) as bytes."""
    return bytes.fromhex("".join(parts).replace(" ", ""))
