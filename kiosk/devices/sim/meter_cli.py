"""The meter user card's part of `kiosk sim card …` (kiosk/sim_cli.py):
`create --type meter --meter <12 digits> --utility electricity|water|gas`,
and `show` / `insert` / `list` of a card named by its meter number. The card
files live in `<cards dir>/meters/` (kiosk/devices/sim/meter_card.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from common.meter_card import MeterCardError, MeterReturn, MeterStatus, Purchase, Utility

if TYPE_CHECKING:     # the card (and its crypto) loads only when a command runs: `kiosk --help` stays light
    from kiosk.devices.sim.meter_card import VirtualMeterCard

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
_UNIT = {Utility.ELECTRICITY: "kWh", Utility.WATER: "m³", Utility.GAS: "m³"}


def add_create_options(create: argparse.ArgumentParser) -> None:
    create.add_argument("--meter", help="meter: the meter number, 12 digits")
    create.add_argument("--utility", choices=[u.name.lower() for u in Utility], help="meter: what it meters")


def is_meter_number(ident: str) -> bool:
    return len(ident) == 12 and ident.isascii() and ident.isdigit()


def open_meter_card(cards_dir: Path, meter: str) -> VirtualMeterCard | None:
    from kiosk.devices.sim.meter_card import VirtualMeterCard, meter_card_path
    path = meter_card_path(cards_dir, meter)
    return VirtualMeterCard.load(path) if path.exists() else None


def create(args: argparse.Namespace) -> int:
    if not args.meter or not args.utility:
        print("kiosk sim card create --type meter: --meter and --utility are required", file=sys.stderr)
        return EXIT_USAGE
    from kiosk.devices.sim.meter_card import VirtualMeterCard
    try:
        card = VirtualMeterCard.create(args.cards_dir, meter=args.meter, utility=Utility.named(args.utility),
                                       holder=args.holder or "", name=args.name)
    except FileExistsError:
        print(f"kiosk sim card: meter card {args.meter} already exists in {args.cards_dir}", file=sys.stderr)
        return EXIT_ERROR
    except MeterCardError as exc:
        print(f"kiosk sim card create: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"created meter card {card.meter} ({card.utility.name.lower()}) in {card.path}")
    return EXIT_OK


def _units(value: int, utility: Utility | None) -> str:
    unit = _UNIT.get(utility, "units") if utility is not None else "units"
    return f"{value // 100:,}.{value % 100:02d} {unit}"


def show(card: VirtualMeterCard) -> int:
    utility = card.utility
    print(f"meter card {card.meter}  {utility.name.lower()}  {card.holder}  {card.name}".rstrip())
    print(f"  file            {card.path}")
    try:
        ef01, ef02 = Purchase.decode(card.ef01()), MeterReturn.decode(card.ef02())
    except MeterCardError as exc:
        print(f"  files unreadable: {exc}")
        return EXIT_OK
    if ef01.blank:
        print("  EF 01 purchase  blank (never sold)")
    else:
        print(f"  EF 01 purchase  count {ef01.count}  {_units(ef01.quantity, utility)}  "
              f"total {_units(ef01.total, utility)}")
    if ef02.blank:
        print("  EF 02 return    blank (not yet in the meter)")
    else:
        flags = ", ".join(str(f.name).lower().replace("_", " ") for f in MeterStatus if f and f in ef02.status)
        print(f"  EF 02 return    last count applied {ef02.last_count}  remaining {_units(ef02.remaining, utility)}  "
              f"used {_units(ef02.cumulative, utility)}  {ef02.time:%Y-%m-%d %H:%M:%S}  status {flags or 'ok'}")
    applied = ef02.last_count == ef01.count
    print("  last purchase   " + ("reached the meter" if applied else "not yet applied by the meter"))
    return EXIT_OK


def rows(cards_dir: Path) -> list[tuple[str, str, str]]:
    """(meter, utility, holder and name) of every meter card in the folder."""
    from kiosk.devices.sim.meter_card import METERS_DIR, VirtualMeterCard
    folder = cards_dir / METERS_DIR
    cards = [VirtualMeterCard.load(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return [(c.meter, c.utility.name.lower(), f"{c.holder} {c.name}".strip()) for c in cards]
