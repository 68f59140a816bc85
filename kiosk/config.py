"""TOML -> typed, validated settings. A bad file fails at start with the file,
the key and the reason (ConfigError), never with a traceback deep inside."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

from kiosk.domain.money import Money

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"
DEMO_KIOSK_CONFIG = CONFIG_DIR / "kiosk.demo.toml"


class ConfigError(Exception):
    def __init__(self, file: Path | str, key: str, reason: str) -> None:
        super().__init__(f"{file}: {key}: {reason}" if key else f"{file}: {reason}")
        self.file, self.key, self.reason = str(file), key, reason


class Section:
    """A table of a TOML file that remembers where it came from, so every
    lookup can name the file and the dotted key in its error."""

    def __init__(self, file: Path | str, data: dict[str, Any], prefix: str = "") -> None:
        self.file, self.data, self.prefix = file, data, prefix
        self._seen: set[str] = set()

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def error(self, name: str, reason: str) -> ConfigError:
        return ConfigError(self.file, self._key(name), reason)

    def get(self, name: str, kind: type[T], default: T | None = None, *,
            check: Callable[[T], str | None] | None = None) -> T:
        self._seen.add(name)
        if name not in self.data:
            if default is None:
                raise self.error(name, "is required")
            return default
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(name, f"must be {kind.__name__}, got {type(value).__name__} {value!r}")
        if check is not None and (problem := check(value)):
            raise self.error(name, problem)
        return value

    def section(self, name: str, *, required: bool = False) -> Section:
        self._seen.add(name)
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.error(name, "section is required")
            value = {}
        if not isinstance(value, dict):
            raise self.error(name, "must be a table")
        return Section(self.file, value, f"{self._key(name)}.")

    def reject_unknown(self) -> None:
        """Typos must not pass silently: an unknown key is an error."""
        for name in self.data:
            if name not in self._seen:
                raise self.error(name, "unknown key")


def _resolve(path: str) -> Path:
    """Relative paths in config are relative to the project folder."""
    p = Path(path)
    return p if p.is_absolute() else PROJECT_ROOT / p


def load_toml(path: Path | str) -> Section:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return Section(path, tomllib.load(fh))
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "", "not UTF-8 text") from None


def positive(value: float | int) -> str | None:
    return None if value > 0 else "must be greater than 0"


def one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"
    return check


def http_url(value: str) -> str | None:
    return None if value.startswith(("http://", "https://")) else "must start with http:// or https://"


@dataclass(frozen=True)
class DisplaySettings:
    fullscreen: bool = False
    width: int = 1280
    height: int = 800
    show_cursor: bool = True


@dataclass(frozen=True)
class HostSettings:
    url: str = "http://127.0.0.1:8700"
    timeout_s: float = 5.0


def hex_key(value: str) -> str | None:
    if value.upper().startswith("REPLACE"):
        return PLACEHOLDER_HELP
    try:
        ok = value.isascii() and len(bytes.fromhex(value)) == 16
    except ValueError:
        ok = False
    return None if ok else "must be 32 hex digits (a double-length 3DES key)"


# --- keys: what may never reach a real site (docs/payments.md "Keys") ------------
# Keys published with this project: the demo's (config/*.demo.toml, DESIGN §5's
# issuer keys) and the test suite's fixtures. Anyone can read them, so they are
# accepted only in a config that says `demo = true` (on loopback, see demo_flag).
PUBLISHED_KEYS = frozenset(bytes.fromhex(k) for k in (
    "7DF0AC87953F75AECD424B5A3BBFF50B",                                    # demo TMK
    "52CA0DE0E5BD568172E8F3580DE35BEA", "1D36BF1CDFC3B17CBA524C9D8C7C1DB9",  # demo issuer keys
    "EBEDB73BC785FD9920B790F5C6062F1A", "EDC4AB99FF27EFACEDCC0743D7F89852",
    "0123456789ABCDEFFEDCBA9876543210", "F1E2D3C4B5A69788796A5B4C3D2E1F00",  # test fixtures' TMKs
    "00112233445566778899AABBCCDDEEFF",
    "BC3A473337F4B9D1E93142F91E67B89A", "87E1ED740393D34205A3B567CDB718ED",  # test fixtures' issuer keys
    "6A6D2E99587A129E9D7B3B740A46A540", "23463C0DE21FDBFF9B35B2EB1914E2E0",
    "6F3C1C82F8009BB2B8F5D03E4195604D", "40792151CBFC6F2BB287BD1E0CABF682",  # demo [bank] keys
    "A762EACCBD295B9A358C2CC37E9F4F86",
    "9A45AD3DEDE95CBC6DB64025F0A28B76", "8BC1067605DC5CD5CAF7BD294B1C6A0F",  # test fixtures' [bank] keys
    "2DEEC67FDA59090B0075A2751B9B8924",
))
PLACEHOLDER_HELP = ("is a placeholder: put your own key here, 32 hex digits (a double-length 3DES key, "
                    "e.g. from python -c \"import secrets; print(secrets.token_hex(16).upper())\"; a TMK is "
                    "the same in the kiosk's [security] and the host's [kiosks] table)")
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def degenerate_key(key: bytes) -> str | None:
    """Why a double-length 3DES key is no key at all (refused everywhere, demo too)."""
    if key == bytes(len(key)):
        return "is all zero (a degenerate key)"
    if len(set(key)) == 1:
        return "is one byte repeated (a degenerate key)"
    if key[:8] == key[8:]:
        return "its two halves are equal (degenerate 3DES key: single DES)"
    return None


def site_key(section: Section, name: str, key: bytes, *, demo: bool) -> bytes:
    """`key` (section.name) if it may be used: never degenerate, and a published
    demo or test key only in a demo config."""
    if (problem := degenerate_key(key)) is not None:
        raise section.error(name, problem)
    if not demo and key in PUBLISHED_KEYS:
        raise section.error(name, "is a published demo/test key, refused outside the demo (a config without "
                                  "`demo = true`): put a key of your own here, 32 hex digits")
    return key


def demo_flag(root: Section, *, loopback_host: str) -> bool:
    """The top-level `demo = true` of a demo config (config/*.demo.toml, the
    tests'). It allows the published keys, and only on one machine: the host must
    listen on (the kiosk must call) a loopback address."""
    demo = root.get("demo", bool, False)
    if demo and loopback_host.strip("[]") not in _LOOPBACK:
        raise root.error("demo", f"a demo config runs on one machine only (loopback), not on {loopback_host!r}; "
                                 "a site config has no `demo` key")
    return demo


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
    fleet: FleetSettings = field(default_factory=FleetSettings)
    source: str = ""

    def device(self, name: str) -> DeviceSettings:
        return self.devices.get(name, DeviceSettings())


def load_kiosk_settings(path: Path | str = DEMO_KIOSK_CONFIG) -> KioskSettings:
    root = load_toml(path)
    kiosk = root.section("kiosk", required=True)
    display = root.section("display")
    host = root.section("host")
    security = root.section("security")
    journal = root.section("journal")
    wallet = root.section("wallet")
    fleet = root.section("fleet")
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
        host=HostSettings(
            url=host.get("url", str, "http://127.0.0.1:8700", check=http_url).rstrip("/"),
            timeout_s=host.get("timeout_s", float, 5.0, check=positive),
        ),
        tmk=site_key(security, "tmk", bytes.fromhex(security.get("tmk", str, check=hex_key)),
                     demo=demo_flag(root, loopback_host=urlsplit(host.get("url", str, "http://127.0.0.1:8700"))
                                    .hostname or "")),
        journal_path=str(_resolve(journal.get("path", str, "var/kiosk/journal.sqlite3"))),
        devices=devices,
        wallet=_wallet(wallet) if "wallet" in root.data else None,
        fleet=FleetSettings(heartbeat_interval_s=fleet.get(
            "heartbeat_interval_s", float, 15.0, check=lambda v: None if 1 <= v <= 3600 else "must be 1..3600 seconds")),
        source=str(path),
    )
    for section in (kiosk, display, host, security, journal, wallet, fleet, devices_section, *device_sections, root):
        section.reject_unknown()
    return settings


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
