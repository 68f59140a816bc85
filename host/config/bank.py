"""The ISO 8583 link of [bank] in the host config (host.bank.frontend,
docs/bank-link.md "The reference front-end"): where the front-end listens, its
MAC algorithm and bounds, and which kiosk (whose TMK) each terminal id is.

    [bank]
    link_host = "127.0.0.1"     # default
    link_port = 8583            # absent: no front-end on this host; 0: a free port (tests)
    mac = "ecb"                 # or "x919" (BANK-8583.md §3)
    link_read_timeout_s = 10    # a frame, or the next one on a kept connection, must come by then
    link_max_frame = 2048       # LEN above this: the connection is closed unread
    institution_id = "0104"     # field 32 of the replies
    link_tls_cert = ""          # with link_tls_key (PEM): accept only TLS 1.2+ on the link
    link_tls_key = ""
    link_client_ca = ""         # with TLS: require a client certificate chaining to this CA (PEM)
    [bank.terminals]
    KIOSK001 = "KIOSK-DEMO-01"  # field 41 -> the kiosk of [kiosks] whose TMK it signs on with
"""
from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from common.bank8583.mac import ALGORITHMS, MacAlgorithm
from common.settings import Section, resolve_path

DEFAULT_MAX_FRAME: Final = 2048
# the longest frame of the message set is well under 1 KiB; a bound above the
# LEN field's own would mean none
_FRAME_BOUNDS: Final = (64, 0xFFFF)


@dataclass(frozen=True, slots=True)
class BankLink:
    port: int                                   # 0: a free port, chosen when listening
    host: str = "127.0.0.1"
    mac: MacAlgorithm = "ecb"
    read_timeout_s: float = 10.0
    max_frame: int = DEFAULT_MAX_FRAME
    institution_id: str = "0104"
    terminals: tuple[tuple[str, str], ...] = ()   # (terminal id, kiosk id)
    tls: tuple[str, str] | None = None          # (certificate chain, key), PEM: TLS only; None: plain TCP
    client_ca: str = ""                         # with tls: the CA (PEM) a terminal's certificate must chain to

    def kiosk_of(self, terminal_id: str) -> str | None:
        for terminal, kiosk in self.terminals:
            if terminal == terminal_id:
                return kiosk
        return None


def _terminal_ok(value: str) -> bool:
    return 0 < len(value) <= 8 and all(0x20 < ord(c) < 0x7F for c in value)


def load_bank_link(section: Section, known_kiosks: Callable[[str], bool]) -> BankLink | None:
    """[bank]'s link keys (the caller reads the card-data keys); None without link_port."""
    host = section.get("link_host", str, "127.0.0.1", check=lambda v: None if v.strip() else "must not be empty")
    mac = section.get("mac", str, "ecb", check=lambda v: None if v in ALGORITHMS else f"must be one of {ALGORITHMS}")
    timeout = section.get("link_read_timeout_s", float, 10.0,
                          check=lambda v: None if 0 < v <= 300 else "must be more than 0 and at most 300 seconds")
    low, high = _FRAME_BOUNDS
    max_frame = section.get("link_max_frame", int, DEFAULT_MAX_FRAME,
                            check=lambda v: None if low <= v <= high else f"must be {low}..{high} bytes")
    institution = section.get("institution_id", str, "0104",
                              check=lambda v: None if v.isascii() and v.isdigit() and len(v) <= 11
                              else "must be 1..11 digits (field 32)")
    terminals_section = section.section("terminals")
    terminals: list[tuple[str, str]] = []
    for terminal in list(terminals_section.data):
        if not _terminal_ok(terminal):
            raise terminals_section.error(terminal, "a terminal id (field 41) is 1-8 printable ASCII characters")
        kiosk = terminals_section.get(terminal, str, check=lambda v: None if known_kiosks(v)
                                      else "must name a kiosk of [kiosks] (its TMK signs the terminal on)")
        terminals.append((terminal, kiosk))
    terminals_section.reject_unknown()
    tls, client_ca = _link_tls(section)
    if "link_port" not in section.data:
        return None
    port = section.get("link_port", int, check=lambda v: None if 0 <= v <= 65535 else "must be 0..65535")
    algorithm: MacAlgorithm = "x919" if mac == "x919" else "ecb"
    return BankLink(port=port, host=host, mac=algorithm, read_timeout_s=timeout, max_frame=max_frame,
                    institution_id=institution, terminals=tuple(terminals), tls=tls, client_ca=client_ca)


def server_context(cert: str, key: str, client_ca: str = "") -> ssl.SSLContext:
    """The front-end's TLS: TLS 1.2 or later, the certificate chain and key;
    with `client_ca`, a terminal must present a certificate chaining to it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _link_tls(section: Section) -> tuple[tuple[str, str] | None, str]:
    """link_tls_cert and link_tls_key, both or neither; link_client_ca only with
    them. Loaded here, so that a wrong path or a key that is not the
    certificate's fails at start, naming the key."""
    cert, key = section.get("link_tls_cert", str, ""), section.get("link_tls_key", str, "")
    client_ca = section.get("link_client_ca", str, "")
    if not cert and not key:
        if client_ca:
            raise section.error("link_client_ca", "needs link_tls_cert and link_tls_key (mutual TLS is TLS)")
        return None, ""
    if not (cert and key):
        raise section.error("link_tls_key" if cert else "link_tls_cert",
                            "link_tls_cert and link_tls_key go together (PEM files)")
    cert, key = str(resolve_path(cert)), str(resolve_path(key))
    client_ca = str(resolve_path(client_ca)) if client_ca else ""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise section.error("link_tls_cert", f"cannot load the certificate and its key ({exc})") from None
    if client_ca:
        try:
            ssl.create_default_context(cafile=client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise section.error("link_client_ca", f"cannot be read as PEM CA certificates ({exc})") from None
    return (cert, key), client_ca
