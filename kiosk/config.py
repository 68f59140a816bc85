"""The kiosk's settings: its TOML file → typed, validated `KioskSettings`. The
reader and the key rules are shared with the host (common/settings.py), so a bad
file fails at start with the file, the key and the reason (ConfigError)."""
from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common.money import Money
from common.settings import (CONFIG_DIR, Section, demo_flag, hex_key, http_url, load_toml, one_of,
                             positive, resolve_path, site_key)

DEMO_KIOSK_CONFIG = CONFIG_DIR / "kiosk.demo.toml"


@dataclass(frozen=True)
class DisplaySettings:
    fullscreen: bool = False
    width: int = 1280
    height: int = 800
    show_cursor: bool = True


@dataclass(frozen=True)
class HostSettings:
    url: str = "http://127.0.0.1:8700"   # plain http:// only to this machine (common.settings.http_url)
    timeout_s: float = 5.0
    ca_file: str = ""   # https: the CA (PEM) the host's certificate must chain to; "" = the system's store


@dataclass(frozen=True)
class DeviceSettings:
    """One device: `kind` picks the adapter ("sim" runs the simulator at the
    transport and the real driver against it); the rest are its parameters."""

    kind: str = "sim"
    params: dict[str, Any] = field(default_factory=dict)


DEVICE_KINDS = {
    "card_reader": ("sim", "serial"),
    "pin_pad": ("sim", "serial"),
    "printer": ("sim", "network", "serial", "usb"),
    "ic_contact": ("sim", "pcsc"),        # IC card readers (docs/cards.md §4)
    "ic_contactless": ("sim", "pcsc"),
}
DEVICE_PARAMS = {  # name -> type, for every kind of that device
    "port": str, "baudrate": int, "host": str, "tcp_port": int, "vendor_id": int, "product_id": int,
    "columns": int, "reader": str, "vpcd_port": int,
}


@dataclass(frozen=True)
class FleetSettings:
    """[fleet]: remote monitoring (docs/console.md)."""

    heartbeat_interval_s: float = 15.0   # the host declares the kiosk offline after 3 missed


@dataclass(frozen=True)
class WalletSettings:
    """The IC wallet (docs/cards.md): this terminal's 6-byte id on the card and
    the load limits shown to card holders."""

    terminal_id: bytes = bytes.fromhex("000000000001")
    min_load: Money = Money(100)
    max_load: Money = Money(100_000)
    presets: tuple[Money, ...] = (Money(5_000), Money(10_000), Money(20_000), Money(50_000))


@dataclass(frozen=True)
class TransferSettings:
    """[transfer]: the transfer limits the kiosk shows and checks before a card
    is touched (docs/cards.md §7); the host's own [transfer] rules, so keep the
    two the same. Defaults: the host's."""

    per_transfer_fen: int = 200_000      # 2,000.00 yuan in one transfer
    per_card_day_fen: int = 500_000      # 5,000.00 yuan out of one card in one business day


@dataclass(frozen=True)
class BankLinkSettings:
    """[bank]: the ISO 8583 link to the bank front-end (docs/bank-link.md
    "Configuring the kiosk"). Off loopback it may run without TLS: banks use
    private lines and the track travels encrypted under the TDK; `link_tls`
    puts it inside TLS ("TLS on the link")."""

    host: str
    port: int
    terminal_id: str                  # field 41, 8 characters
    merchant_id: str                  # field 42, 15 characters
    tpdu_destination: str = "0003"    # TPDU addresses, 4 hex digits each
    tpdu_source: str = "0000"
    software_version: str = "31"      # header digits 3-4
    mac: str = "ecb"                  # "ecb" | "x919" (BANK-8583.md §3)
    persistent: bool = False          # one connection per exchange unless true (§1)
    connect_timeout_s: float = 3.0
    reply_timeout_s: float = 15.0
    settle_at: str = ""               # "HH:MM": the daily settlement (kiosk clock); "" none
    link_tls: bool = False            # TLS around the link, the front-end verified
    link_ca_file: str = ""            # its CA (PEM); "": the system's store
    link_client_cert: str = ""        # with link_client_key: our certificate, for mutual TLS
    link_client_key: str = ""


@dataclass(frozen=True)
class KioskSettings:
    kiosk_id: str
    estate_name: str
    language: str = "zh"
    idle_timeout_s: int = 60
    notices: tuple[str, ...] = ()
    display: DisplaySettings = field(default_factory=DisplaySettings)
    host: HostSettings = field(default_factory=HostSettings)
    tmk: bytes = field(default=b"", repr=False)   # terminal master key (demo key in the demo config)
    journal_path: str = "var/kiosk/journal.sqlite3"
    devices: dict[str, DeviceSettings] = field(default_factory=dict)
    wallet: WalletSettings | None = None   # None: no [wallet] section, no IC card services
    transfer: TransferSettings = field(default_factory=TransferSettings)
    fleet: FleetSettings = field(default_factory=FleetSettings)
    bank: BankLinkSettings | None = None   # None: no [bank] section, no bill payments (the look-up only)
    source: str = ""

    def device(self, name: str) -> DeviceSettings:
        return self.devices.get(name, DeviceSettings())


def _host(host: Section) -> HostSettings:
    url = host.get("url", str, "http://127.0.0.1:8700", check=http_url).rstrip("/")
    ca_file = host.get("ca_file", str, "")
    if ca_file:
        if not url.startswith("https://"):
            raise host.error("ca_file", "applies to an https:// host url only")
        ca_file = str(resolve_path(ca_file))
        try:   # read it now: a wrong path fails at start, naming the key, not at the first payment
            ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise host.error("ca_file", f"cannot be read as PEM CA certificates ({exc})") from None
    return HostSettings(url=url, timeout_s=host.get("timeout_s", float, 5.0, check=positive), ca_file=ca_file)


def load_kiosk_settings(path: Path | str = DEMO_KIOSK_CONFIG) -> KioskSettings:
    root = load_toml(path)
    kiosk = root.section("kiosk", required=True)
    display = root.section("display")
    host = root.section("host")
    security = root.section("security")
    journal = root.section("journal")
    wallet = root.section("wallet")
    transfer = root.section("transfer")
    fleet = root.section("fleet")
    bank = root.section("bank")
    devices_section = root.section("devices")
    devices: dict[str, DeviceSettings] = {}
    device_sections = []
    for name, kinds in DEVICE_KINDS.items():
        dev = devices_section.section(name)
        kind = dev.get("kind", str, "sim", check=one_of(*kinds))
        params: dict[str, Any] = {key: dev.get(key, kind_) for key, kind_ in DEVICE_PARAMS.items() if key in dev.data}
        devices[name] = DeviceSettings(kind, params)
        device_sections.append(dev)
    notices = kiosk.get("notices", list, [])
    if not all(isinstance(n, str) for n in notices):
        raise kiosk.error("notices", "must be a list of strings")
    settings = KioskSettings(
        kiosk_id=kiosk.get("id", str),
        estate_name=kiosk.get("estate_name", str),
        language=kiosk.get("language", str, "zh", check=one_of("zh", "en")),
        idle_timeout_s=kiosk.get("idle_timeout_s", int, 60,
                                 check=lambda v: None if 10 <= v <= 600 else "must be 10..600 seconds"),
        notices=tuple(notices),
        display=DisplaySettings(
            fullscreen=display.get("fullscreen", bool, False),
            width=display.get("width", int, 1280, check=positive),
            height=display.get("height", int, 800, check=positive),
            show_cursor=display.get("show_cursor", bool, True),
        ),
        host=_host(host),
        tmk=site_key(security, "tmk", bytes.fromhex(security.get("tmk", str, check=hex_key)),
                     demo=demo_flag(root, loopback_host=urlsplit(host.get("url", str, "http://127.0.0.1:8700"))
                                    .hostname or "")),
        journal_path=str(resolve_path(journal.get("path", str, "var/kiosk/journal.sqlite3"))),
        devices=devices,
        wallet=_wallet(wallet) if "wallet" in root.data else None,
        transfer=_transfer(transfer),
        fleet=FleetSettings(heartbeat_interval_s=fleet.get(
            "heartbeat_interval_s", float, 15.0, check=lambda v: None if 1 <= v <= 3600 else "must be 1..3600 seconds")),
        bank=_bank(bank) if "bank" in root.data else None,
        source=str(path),
    )
    for section in (kiosk, display, host, security, journal, wallet, transfer, fleet, bank, devices_section, *device_sections, root):
        section.reject_unknown()
    return settings


def _fixed_text(length: int) -> Any:
    def check(value: str) -> str | None:
        ok = 0 < len(value) <= length and value.isascii() and value.isprintable()
        return None if ok else f"must be 1..{length} printable ASCII characters"
    return check


def _hex4(value: str) -> str | None:
    return None if len(value) == 4 and all(c in "0123456789ABCDEFabcdef" for c in value) else "must be 4 hex digits"


def _hhmm(value: str) -> str | None:
    if value == "":
        return None
    hh, _, mm = value.partition(":")
    ok = len(hh) == 2 and len(mm) == 2 and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60
    return None if ok else 'must be "HH:MM" (24 h) or ""'


def _bank(section: Section) -> BankLinkSettings:
    version = section.get("software_version", str, "31")
    if len(version) != 2 or not version.isdigit():
        raise section.error("software_version", "must be 2 digits")
    return BankLinkSettings(
        host=section.get("host", str),
        port=section.get("port", int, check=lambda v: None if 1 <= v <= 65535 else "must be 1..65535"),
        terminal_id=section.get("terminal_id", str, check=_fixed_text(8)),
        merchant_id=section.get("merchant_id", str, check=_fixed_text(15)),
        tpdu_destination=section.get("tpdu_destination", str, "0003", check=_hex4).upper(),
        tpdu_source=section.get("tpdu_source", str, "0000", check=_hex4).upper(),
        software_version=version,
        mac=section.get("mac", str, "ecb", check=one_of("ecb", "x919")),
        persistent=section.get("persistent", bool, False),
        connect_timeout_s=section.get("connect_timeout_s", float, 3.0, check=positive),
        reply_timeout_s=section.get("reply_timeout_s", float, 15.0, check=positive),
        settle_at=section.get("settle_at", str, "", check=_hhmm),
        **_link_tls(section),
    )


def _link_tls(section: Section) -> dict[str, Any]:
    """[bank] link_tls and its files: the CA and the client certificate only with
    link_tls, the certificate and its key together; all loaded now, so a wrong
    path fails at start naming the key, not at the first sign-on."""
    tls = section.get("link_tls", bool, False)
    files = {name: section.get(name, str, "") for name in ("link_ca_file", "link_client_cert", "link_client_key")}
    for name, value in files.items():
        if value and not tls:
            raise section.error(name, "applies only with link_tls = true")
    cert, key = files["link_client_cert"], files["link_client_key"]
    if bool(cert) != bool(key):
        raise section.error("link_client_key" if cert else "link_client_cert",
                            "link_client_cert and link_client_key go together (PEM files)")
    files = {name: str(resolve_path(value)) if value else "" for name, value in files.items()}
    if not tls:
        return {"link_tls": False, **files}
    try:
        context = ssl.create_default_context(cafile=files["link_ca_file"] or None)
    except (OSError, ssl.SSLError) as exc:
        raise section.error("link_ca_file", f"cannot be read as PEM CA certificates ({exc})") from None
    if cert:
        try:
            context.load_cert_chain(files["link_client_cert"], files["link_client_key"])
        except (OSError, ssl.SSLError) as exc:
            raise section.error("link_client_cert", f"cannot load the certificate and its key ({exc})") from None
    return {"link_tls": tls, **files}


def _money(section: Section, name: str, default: Money) -> Money:
    text = section.get(name, str, default.yuan)
    try:
        value = Money.parse(text)
    except (ValueError, ArithmeticError):
        raise section.error(name, "must be an amount in yuan, e.g. \"100.00\"") from None
    if value.fen <= 0:
        raise section.error(name, "must be more than 0")
    return value


def _wallet(section: Section) -> WalletSettings:
    default = WalletSettings()
    term = section.get("terminal_id", str, default.terminal_id.hex(),
                       check=lambda v: None if len(v) == 12 and all(c in "0123456789abcdefABCDEF" for c in v)
                       else "must be 12 hex digits (6 bytes)")
    low, high = _money(section, "min_load", default.min_load), _money(section, "max_load", default.max_load)
    if low > high:
        raise section.error("min_load", "must not exceed max_load")
    presets = section.get("presets", list, [p.yuan for p in default.presets])
    amounts = []
    for text in presets:
        try:
            amount = Money.parse(text) if isinstance(text, str) else None
        except (ValueError, ArithmeticError):
            amount = None
        if amount is None or not low <= amount <= high:
            raise section.error("presets", f"each must be an amount in quotes within {low.yuan}..{high.yuan}")
        amounts.append(amount)
    return WalletSettings(bytes.fromhex(term), low, high, tuple(amounts))


def _transfer(section: Section) -> TransferSettings:
    def fen(value: int) -> str | None:       # a one-card purse's 3 bytes bound every transfer
        return None if 1 <= value <= 16_777_215 else "must be 1..16777215 fen"
    default = TransferSettings()
    return TransferSettings(
        per_transfer_fen=section.get("per_transfer_fen", int, default.per_transfer_fen, check=fen),
        per_card_day_fen=section.get("per_card_day_fen", int, default.per_card_day_fen, check=fen))
