"""Host settings from TOML, validated with the kiosk's Section helpers so a bad
file names the file, the dotted key and the reason (ConfigError)."""
from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from collections.abc import Callable
from typing import Any

from common.epurse_issuer import PurseKeys
from common.onecard_keys import OneCardMasterKeys
from host.config.bank import BankLink, load_bank_link
from host.config.console import ConsoleSettings, load_console_settings
from host.config.fleet import FleetSettings, load_fleet_settings
from host.config.meters import MeterSettings, load_meter_settings
from host.config.onecard import OneCardSettings, load_onecard_settings
from host.config.transfers import TransferSettings, load_transfer_settings
from common.settings import (CONFIG_DIR, ConfigError, demo_flag, hex_key, load_toml, PROJECT_ROOT, Section,
                             resolve_path, site_key)

DEMO_HOST_CONFIG = CONFIG_DIR / "host.demo.toml"
DEFAULT_DB_URL = "sqlite:///var/host.sqlite3"

# Unit prices: positive decimals written as strings (never TOML floats), <= 4 places.
_PRICE = re.compile(r"^\d{1,6}(\.\d{1,4})?$", re.ASCII)
_QUANTITY = re.compile(r"^\d{1,9}(\.\d{1,2})?$", re.ASCII)
_RATE = re.compile(r"^0(\.\d{1,8})?$", re.ASCII)
_KEY_HEX = re.compile(r"^[0-9A-Fa-f]{32}$")
_KIOSK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


@dataclass(frozen=True, slots=True)
class Tier:
    up_to: Decimal | None     # upper bound, inclusive; None = open-ended last tier
    price: Decimal            # yuan per unit
    price_text: str           # as configured, shown on the wire ("0.4883")


@dataclass(frozen=True, slots=True)
class Tariff:
    utility: str              # water | electricity | gas | property
    unit: str                 # m3 | kWh | m2
    tiers: tuple[Tier, ...]


@dataclass(frozen=True, slots=True)
class BankKeys:
    """[bank]: the reference bank's keys for card data at rest (host.bank.card_vault),
    16 bytes each. Its repr never shows them."""
    pan_key: bytes        # AES-128-GCM: bank_accounts.pan_enc
    pan_hash_key: bytes   # HMAC-SHA256: bank_accounts.pan_hash, the look-up by card number
    pvk: bytes            # PIN verification key (double-length 3DES): bank_accounts.pin_offset

    def __repr__(self) -> str:
        return "BankKeys(…)"


@dataclass(frozen=True, slots=True)
class HostSettings:
    estate_name: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 8700
    # [host] tls_cert / tls_key (PEM files): serve HTTPS; None: plain HTTP (this
    # machine, or a site whose TLS proxy is in front: docs/host.md "Deploying")
    tls: tuple[str, str] | None = None
    database_url: str = DEFAULT_DB_URL
    due_days: int = 30                    # due date = issue date (1st of next month) + due_days
    late_fee_daily_rate: Decimal = Decimal("0.0005")
    tariffs: tuple[Tariff, ...] = ()      # water, electricity, gas, property (in bill order)
    kiosks: tuple[tuple[str, bytes], ...] = ()   # (kiosk id, terminal master key): the fleet
    # The card centre's issuer master keys ([card_centre]); None: no card centre on this host.
    issuer_keys: PurseKeys | None = None     # its repr never shows the keys
    # [card_centre] mka, mkb, mki: the one-card's master keys; None: no one-card routes.
    onecard_keys: OneCardMasterKeys | None = None
    # The reference bank's card-data keys ([bank]); None: no [bank] section, and then
    # seeding accounts or a card payment fails with a ConfigError (bank_keys()).
    bank: BankKeys | None = None
    # [bank]'s ISO 8583 front-end (link_port and the rest); None: `serve` starts none.
    bank_link: BankLink | None = None
    fleet: FleetSettings = field(default_factory=FleetSettings)        # [fleet]: heartbeats (docs/console.md)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)  # [console]: staff sessions, lockout
    # [meters] masters and [prepaid_tariffs.*] (host.meters); None: the host vends no units
    meters: MeterSettings | None = None
    onecard: OneCardSettings = field(default_factory=OneCardSettings)  # [onecard]: the unpaid-fee blacklist
    transfer: TransferSettings = field(default_factory=TransferSettings)  # [transfer]: card-to-card limits
    source: str = ""

    def tmk(self, kiosk_id: str) -> bytes | None:
        """The kiosk's terminal master key, or None for a kiosk not in the fleet."""
        for known, key in self.kiosks:
            if known == kiosk_id:
                return key
        return None

    def bank_keys(self) -> BankKeys:
        """The [bank] keys; a ConfigError naming the file when the config has none."""
        if self.bank is None:
            raise ConfigError(self.source or "host config", "bank",
                              "section is required for the reference bank (card accounts, payments): "
                              "pan_key, pan_hash_key and pvk, 32 hex digits each (docs/payments.md)")
        return self.bank

    def tariff(self, utility: str) -> Tariff:
        for tariff in self.tariffs:
            if tariff.utility == utility:
                return tariff
        raise KeyError(utility)


METERED = (("water", "m3"), ("electricity", "kWh"), ("gas", "m3"))


def _price(section: Section, name: str) -> tuple[Decimal, str]:
    value = section.data.get(name)
    section.get(name, object)  # marks seen / "is required"
    if not isinstance(value, str):
        raise section.error(name, f'must be a decimal in quotes, e.g. "0.4883" (got {value!r})')
    if not _PRICE.match(value) or Decimal(value) <= 0:
        raise section.error(name, f"must be a positive decimal with at most 4 places, got {value!r}")
    return Decimal(value), value


def _up_to(section: Section) -> Decimal | None:
    if "up_to" not in section.data:
        return None
    value: Any = section.get("up_to", object)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise section.error("up_to", f"must be an integer or a decimal in quotes, got {value!r}")
    text = str(value)
    if not _QUANTITY.match(text) or Decimal(text) <= 0:
        raise section.error("up_to", f"must be a positive quantity with at most 2 places, got {value!r}")
    return Decimal(text)


def _tiers(section: Section) -> tuple[Tier, ...]:
    raw = section.get("tiers", list)
    if not raw:
        raise section.error("tiers", "needs at least one tier")
    tiers: list[Tier] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise section.error(f"tiers[{i}]", "must be a table like {up_to = 180, price = \"0.4883\"}")
        tier = Section(section.file, item, f"{section.prefix}tiers[{i}].")
        up_to = _up_to(tier)
        price, text = _price(tier, "price")
        tier.reject_unknown()
        last = i == len(raw) - 1
        if last and up_to is not None:
            raise tier.error("up_to", "the last tier must be open-ended (no up_to)")
        if not last and up_to is None:
            raise tier.error("up_to", "is required on every tier but the last")
        # every tier before this one is not the last, so it has an up_to
        if up_to is not None and tiers and (previous := tiers[-1].up_to) is not None and up_to <= previous:
            raise tier.error("up_to", f"must be greater than the previous tier's ({tiers[-1].up_to})")
        tiers.append(Tier(up_to, price, text))
    return tuple(tiers)


def _rate(section: Section, name: str, default: str) -> Decimal:
    text = section.get(name, str, default)
    if not _RATE.match(text):
        raise section.error(name, f'must be a decimal below 1 in quotes, e.g. "0.0005" (got {text!r})')
    return Decimal(text)


def _tls(host: Section) -> tuple[str, str] | None:
    """[host] tls_cert and tls_key, both or neither: the certificate chain and its
    private key, PEM; checked here so that a wrong path fails at start."""
    cert, key = host.get("tls_cert", str, ""), host.get("tls_key", str, "")
    if not cert and not key:
        return None
    if not (cert and key):
        raise host.error("tls_key" if cert else "tls_cert", "tls_cert and tls_key go together (PEM files)")
    cert, key = str(resolve_path(cert)), str(resolve_path(key))
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise host.error("tls_cert", f"cannot load the certificate and its key ({exc})") from None
    return cert, key


def _kiosks(section: Section, *, demo: bool) -> tuple[tuple[str, bytes], ...]:
    """[kiosks."KIOSK-DEMO-01"] tmk = "<32 hex>": one table per kiosk of the fleet."""
    fleet: list[tuple[str, bytes]] = []
    for kiosk_id in list(section.data):
        if not _KIOSK_ID.match(kiosk_id):
            raise section.error(kiosk_id, "a kiosk id is 1-32 letters, digits, '-', '_' or '.'")
        kiosk = section.section(kiosk_id)
        key = _double_key(kiosk, "tmk", demo=demo)
        kiosk.reject_unknown()
        fleet.append((kiosk_id, key))
    return tuple(fleet)


def _double_key(section: Section, name: str, *, demo: bool) -> bytes:
    """A double-length 3DES key: never degenerate, a published one only in a
    demo config (kiosk.config.site_key); a REPLACE placeholder says what to put."""
    text = section.get(name, str, check=lambda v: None if _KEY_HEX.match(v) else
                       hex_key(v) or "must be 32 hex digits (a double-length 3DES key)")
    return site_key(section, name, bytes.fromhex(text), demo=demo)


def _distinct_keys(root: Section, name: str, keys: tuple[str, ...], *, demo: bool,
                   more: Callable[[Section], None] | None = None) -> dict[str, bytes] | None:
    """Section `name`'s double-length keys, each checked (_double_key) and all
    different; None when the config has no such section."""
    present = name in root.data
    section = root.section(name)
    if not present:
        return None
    found: dict[str, bytes] = {}
    for key_name in keys:
        key = _double_key(section, key_name, demo=demo)
        if key in found.values():
            raise section.error(key_name, f"must differ from the other [{name}] keys")
        found[key_name] = key
    if more is not None:       # the section's other keys (the bank's link)
        more(section)
    section.reject_unknown()
    return found


def _issuer_keys(root: Section, *, demo: bool) -> tuple[PurseKeys | None, OneCardMasterKeys | None]:
    """[card_centre] dlk, dpk, duk, dtk: the e-purse issuer master keys (DESIGN §5).
    Without the section the host runs no card centre (its endpoints answer 503).
    And the one-card's master keys mka, mkb, mki (all three or none: without
    them the one-card routes answer 503; docs/onecard.md)."""
    onecard: list[OneCardMasterKeys | None] = [None]

    def read_onecard(section: Section) -> None:
        given = [name for name in _ONECARD_KEYS if name in section.data]
        if not given:
            return
        if len(given) != len(_ONECARD_KEYS):
            raise section.error(given[0], "the one-card needs all of mka, mkb and mki")
        found = {name: _double_key(section, name, demo=demo) for name in _ONECARD_KEYS}
        if len(set(found.values())) != len(found):
            raise section.error("mki", "mka, mkb and mki must differ")
        onecard[0] = OneCardMasterKeys(**found)

    keys = _distinct_keys(root, "card_centre", ("dlk", "dpk", "duk", "dtk"), demo=demo, more=read_onecard)
    return (None if keys is None else PurseKeys(**keys)), onecard[0]


_ONECARD_KEYS = ("mka", "mkb", "mki")


def _bank_keys(root: Section, *, demo: bool,
               kiosks: tuple[tuple[str, bytes], ...]) -> tuple[BankKeys | None, BankLink | None]:
    """[bank] pan_key, pan_hash_key, pvk: the reference bank's keys for the card
    data it keeps (docs/payments.md). No defaults: without the section the host
    loads, but seeding accounts and card payments fail (HostSettings.bank_keys).
    And its ISO 8583 front-end (host.config.bank): None without link_port."""
    known = {kiosk_id for kiosk_id, _ in kiosks}
    link: list[BankLink | None] = [None]

    def read_link(section: Section) -> None:
        link[0] = load_bank_link(section, known.__contains__)

    keys = _distinct_keys(root, "bank", ("pan_key", "pan_hash_key", "pvk"), demo=demo, more=read_link)
    return (None, None) if keys is None else (BankKeys(**keys), link[0])


def resolve_db_url(url: str) -> str:
    """A relative SQLite path is taken from the project root, so the host finds
    the same file whatever the current directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        path = Path(url[len(prefix):])
        if not path.is_absolute():
            return prefix + str(PROJECT_ROOT / path)
    return url


def db_url_from_override(value: str) -> str:
    """--db accepts a URL or a plain file path (taken as SQLite)."""
    return value if "://" in value else f"sqlite:///{Path(value).resolve()}"


def load_host_settings(path: Path | str = DEMO_HOST_CONFIG) -> HostSettings:
    root = load_toml(path)
    host = root.section("host", required=True)
    database = root.section("database")
    billing = root.section("billing")
    late = root.section("late_fee")
    tariffs_section = root.section("tariffs", required=True)
    # `demo = true` (top level): the published keys are allowed, on loopback only
    demo = demo_flag(root, loopback_host=str(host.data.get("listen_host", "127.0.0.1")))
    kiosks = _kiosks(root.section("kiosks"), demo=demo)
    issuer_keys, onecard_keys = _issuer_keys(root, demo=demo)
    bank, bank_link = _bank_keys(root, demo=demo, kiosks=kiosks)
    meters = load_meter_settings(root, _distinct_keys(root, "meters", ("mkp", "mkr", "mku"), demo=demo), _tiers)
    fleet = load_fleet_settings(root.section("fleet"))
    onecard = load_onecard_settings(root.section("onecard"))
    transfer = load_transfer_settings(root.section("transfer"))
    tls = _tls(host)
    console = load_console_settings(root.section("console"), https=tls is not None)

    estate = host.get("estate_name", str, check=lambda v: None if v.strip() else "must not be empty")
    listen_host = host.get("listen_host", str, "127.0.0.1")
    port = host.get("listen_port", int, 8700,
                    check=lambda v: None if 0 <= v <= 65535 else "must be 0..65535")
    url = database.get("url", str, DEFAULT_DB_URL,
                       check=lambda v: None if "://" in v else 'must be a SQLAlchemy URL, e.g. "sqlite:///var/host.sqlite3"')
    due_days = billing.get("due_days", int, 30, check=lambda v: None if 1 <= v <= 120 else "must be 1..120 days")
    rate = _rate(late, "daily_rate", "0.0005")

    tariffs: list[Tariff] = []
    for utility, unit in METERED:
        section = tariffs_section.section(utility, required=True)
        tariffs.append(Tariff(utility, unit, _tiers(section)))
        section.reject_unknown()
    prop = tariffs_section.section("property", required=True)
    price, text = _price(prop, "price_per_m2")
    prop.reject_unknown()
    tariffs.append(Tariff("property", "m2", (Tier(None, price, text),)))

    for section in (host, database, billing, late, tariffs_section, root):
        section.reject_unknown()
    return HostSettings(
        estate_name=estate.strip(), listen_host=listen_host, listen_port=port, tls=tls,
        database_url=resolve_db_url(url), due_days=due_days, late_fee_daily_rate=rate,
        tariffs=tuple(tariffs), kiosks=kiosks, issuer_keys=issuer_keys, onecard_keys=onecard_keys, bank=bank,
        bank_link=bank_link, fleet=fleet, console=console, meters=meters, onecard=onecard, transfer=transfer,
        source=str(path),
    )


__all__ = ["BankKeys", "BankLink", "ConfigError", "HostSettings", "MeterSettings", "Tariff", "Tier", "load_host_settings",
           "DEMO_HOST_CONFIG", "db_url_from_override", "resolve_db_url"]
