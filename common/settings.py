"""Settings files, read the same way by the kiosk and the host: TOML → a
`Section` that names the file and the dotted key in every error (ConfigError),
never a traceback deep inside; the checks shared by both sides' settings; and
the key rules (docs/security.md): no degenerate key anywhere, the published
demo and test keys only in a config that says `demo = true`, on loopback."""
from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"


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


def resolve_path(path: str) -> Path:
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


def is_loopback(host: str) -> bool:
    """This machine: `localhost` or a loopback address (127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_url(value: str) -> str | None:
    """An http(s) URL; plain http only to this machine, since what crosses a
    network (signed messages, the console's pages) must be encrypted."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return (f"plain http:// is allowed only to this machine (127.0.0.1, localhost, ::1), not to "
                f"{parts.hostname!r}: messages would cross the network unencrypted; use https://")
    return None


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
    "8A2F0C6B51D3E7940F6E2A1C9B4D7385", "3C91E5A07B2D48F6A1093D5E7C6B2F18",  # DESIGN §5's one-card masters
    "D47A1E9C0B6F2853E9A4C17D305B8E26",
    "6E1B94C2A7305DF8B1E4097A3C2D5F61", "29D5A0E7C36B184F5A2E9C0B7D4F1386",  # demo meter masters (DESIGN §5)
    "B3087F4D1EA9C6250D7B3E8A4F91C26E",
))
PLACEHOLDER_HELP = ("is a placeholder: put your own key here, 32 hex digits (a double-length 3DES key, "
                    "e.g. from python -c \"import secrets; print(secrets.token_hex(16).upper())\"; a TMK is "
                    "the same in the kiosk's [security] and the host's [kiosks] table)")


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
    if demo and not is_loopback(loopback_host):
        raise root.error("demo", f"a demo config runs on one machine only (loopback), not on {loopback_host!r}; "
                                 "a site config has no `demo` key")
    return demo
