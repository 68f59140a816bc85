"""What a kiosk needs to reach its bank front-end (BANK-8583.md §1, §3)."""
from __future__ import annotations

from dataclasses import dataclass, field

from common.bank8583.framing import Header, Tpdu
from common.bank8583.mac import MacAlgorithm
from kiosk.backend_client.bank8583.tls import LinkTls


@dataclass(frozen=True)
class LinkSettings:
    host: str
    port: int
    terminal_id: str                 # 41, ans8
    merchant_id: str                 # 42, ans15
    tmk: bytes = field(repr=False)   # the kiosk's security.tmk: field 62 is under it
    tpdu: Tpdu = Tpdu("0003", "0000")
    header: Header = Header()
    mac_algorithm: MacAlgorithm = "ecb"
    operator: str = "01"             # 63 of the 0800 and the 0500
    # One connection per exchange is the contract's default (§1); a persistent
    # connection, reopened when lost, is configuration.
    persistent: bool = False
    connect_timeout_s: float = 3.0
    reply_timeout_s: float = 15.0
    # LEN above this is refused before a byte of the body is read: the largest
    # message of the page (a sign-on reply, a settlement) is under 300 bytes.
    max_frame: int = 2048
    # None: plain TCP (the contract's link); else TLS around it, peer verified
    tls: LinkTls | None = None
