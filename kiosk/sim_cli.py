"""`kiosk sim card list|show|create|insert|remove`: the virtual IC cards.

Cards live in `<cards dir>/<serial>.json` (default var/demo/cards); MIFARE
one-cards (`create --type m1`) in `<cards dir>/m1-<UID>.json`, named by their
UID, tapped with `insert --reader contactless`, `show` giving a sector dump. The demo
cards of config/test-cards.toml are personalised on first use. `insert` holds
the card in a vpcd slot until Ctrl-C or `remove`, and notes its pid in
`<cards dir>/reader-<contact|contactless>.pid` so that `remove` can end it.
Reader ports: --port, else var/demo/pcscd.json (the demo's private pcscd),
else the system pcscd's vpcd ports 35963/35964."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

from common.settings import PROJECT_ROOT
from common.clock import SystemClock
from kiosk.devices.sim import meter_cli

DEFAULT_CARDS_DIR = PROJECT_ROOT / "var" / "demo" / "cards"
READERS = ("contact", "contactless")
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
M1_PREFIX = "m1-"           # one-card files: m1-<UID>.json (kiosk/devices/sim/m1_card.py)
TXN_NAMES = {0x01: "ED load", 0x02: "EP load", 0x03: "unload", 0x05: "ED purchase", 0x06: "EP purchase"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `sim card …` to the `kiosk` command's subparsers."""
    sim = sub.add_parser("sim", help="simulated devices: the virtual IC cards")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True)
    card = sim_sub.add_parser("card", help="virtual CPU cards (e-purse) behind pcscd's vpcd readers")
    card_sub = card.add_subparsers(dest="card_command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        cmd = card_sub.add_parser(name, help=text)
        cmd.add_argument("--cards-dir", type=Path, default=DEFAULT_CARDS_DIR,
                         help=f"card files (default {DEFAULT_CARDS_DIR.relative_to(PROJECT_ROOT)})")
        return cmd

    command("list", "the demo IC cards and any others, with their state")
    show = command("show", "one card's balances, counters, PIN tries and last transactions")
    show.add_argument("serial", help="application serial number, 20 hex digits")
    create = command("create", "personalise a new card (demo issuer keys)")
    create.add_argument("--type", choices=("cpu", "m1", "meter"), default="cpu",
                        help="cpu: a CPU e-purse card (default); m1: a MIFARE Classic estate one-card; "
                             "meter: a prepaid meter user card")
    create.add_argument("--serial", help="cpu: 20 hex digits (required); m1: the card serial, a number")
    create.add_argument("--holder", help="the holder's name (required for cpu and m1)")
    create.add_argument("--pin", help="cpu: 4-12 digits (required)")
    create.add_argument("--ep", default="0.00", help="purse balance in yuan (default 0.00)")
    create.add_argument("--ed", default="0.00", help="passbook balance in yuan (default 0.00)")
    create.add_argument("--name", default="", help="a label for the card")
    create.add_argument("--uid", help="m1: the 4-byte UID, 8 hex digits (required)")
    create.add_argument("--balance", default="0.00", help="m1: purse balance in yuan (default 0.00)")
    create.add_argument("--house", default="", help="m1: house number, e.g. 3-2-1202")
    create.add_argument("--household-id", type=int, default=0, help="m1: the household's id")
    create.add_argument("--black", action="store_true", help="m1: black-flag the card (unpaid fees)")
    meter_cli.add_create_options(create)
    insert = command("insert", "hold a card in a virtual reader until Ctrl-C or `remove`")
    insert.add_argument("serial")
    insert.add_argument("--reader", choices=READERS, required=True)
    insert.add_argument("--port", type=int, help="vpcd port of that reader (default: from the demo or 35963/35964)")
    remove = command("remove", "take the card out of a virtual reader (ends its `insert`)")
    remove.add_argument("--reader", choices=READERS, required=True)


def run(args: argparse.Namespace) -> int:
    handlers = {"list": _list, "show": _show, "create": _create, "insert": _insert, "remove": _remove}
    return handlers[args.card_command](args)


# --- helpers ----------------------------------------------------------------------
def _demo_cards() -> tuple[Any, ...]:
    from common.demo_cards import load_test_cards
    return load_test_cards().ic_cards


def _open_card(cards_dir: Path, serial: str) -> Any:
    """The card's file, or a demo card personalised now; None if unknown."""
    from kiosk.devices.sim.cpu_card import VirtualCpuCard
    from kiosk.devices.sim.m1_card import VirtualM1Card
    if meter_cli.is_meter_number(serial):
        return meter_cli.open_meter_card(cards_dir, serial)
    serial = serial.upper()
    path = cards_dir / f"{serial}.json"
    if path.exists():
        return VirtualCpuCard.load(path)
    if (m1 := VirtualM1Card.file_for(cards_dir, serial)).exists():
        return VirtualM1Card.load(m1)
    demo = next((c for c in _demo_cards() if c.serial == serial), None)
    return VirtualCpuCard.personalise(demo, cards_dir, issued=SystemClock().today()) if demo is not None else None


def _yuan(fen: int) -> str:
    from common.money import Money
    return Money(fen).display()


def _pad(text: str, width: int) -> str:
    """Left-justify counting a Chinese character as two columns."""
    cols = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - cols)


def _pid_file(cards_dir: Path, reader: str) -> Path:
    return cards_dir / f"reader-{reader}.pid"


def _holder(cards_dir: Path, reader: str) -> tuple[int, str] | None:
    """(pid, serial) of the live `insert` holding a card in the reader."""
    path = _pid_file(cards_dir, reader)
    try:
        pid_text, serial = path.read_text().split()
        pid = int(pid_text)
        os.kill(pid, 0)
    except (OSError, ValueError):
        path.unlink(missing_ok=True)      # stale: its process is gone
        return None
    return pid, serial


def _ports() -> tuple[int, ...]:
    from kiosk.devices.sim.pcscd import SYSTEM_PORTS, read_pcscd_info
    info = read_pcscd_info()
    return info.ports if info is not None else SYSTEM_PORTS


# --- commands ---------------------------------------------------------------------
def _list(args: argparse.Namespace) -> int:
    from common.epurse import Wallet
    from kiosk.devices.sim.cpu_card import VirtualCpuCard
    held = {h[1]: reader for reader in READERS if (h := _holder(args.cards_dir, reader)) is not None}
    rows = []
    seen = set()
    for demo in _demo_cards():
        seen.add(demo.serial)
        path = args.cards_dir / f"{demo.serial}.json"
        if path.exists():
            card = VirtualCpuCard.load(path)
            rows.append((card.serial, card.holder, card.balance(Wallet.ED), card.balance(Wallet.EP),
                         card.pin_tries_left, demo.media, demo.name))
        else:
            rows.append((demo.serial, demo.holder, demo.ed_balance.fen, demo.ep_balance.fen,
                         demo.pin_tries_left, demo.media, demo.name + " (not personalised yet)"))
    for path in sorted(args.cards_dir.glob("*.json")) if args.cards_dir.is_dir() else ():
        if path.stem.upper() not in seen and not path.name.startswith(M1_PREFIX):
            card = VirtualCpuCard.load(path)
            rows.append((card.serial, card.holder, card.balance(Wallet.ED), card.balance(Wallet.EP),
                         card.pin_tries_left, "-", card.name))
    print(f"{'serial':20}  {'holder':8}  {'ED':>12}  {'EP':>10}  PIN  {'media':11}  name")
    for serial, holder, ed, ep, tries, media, name in rows:
        where = f"  [in the {held[serial]} reader]" if serial in held else ""
        print(f"{serial:20}  {_pad(holder, 8)}  {_yuan(ed):>12}  {_yuan(ep):>10}  {tries}/3  {media:11}  {name}{where}")
    _list_m1(args.cards_dir, held)
    for meter, utility, label in meter_cli.rows(args.cards_dir):
        where = f"  [in the {held[meter]} reader]" if meter in held else ""
        print(f"{meter:20}  meter card, {utility}  {label}{where}".rstrip())
    return EXIT_OK


def _list_m1(cards_dir: Path, held: dict[str, str]) -> None:
    from common.onecard import DEMO_MAP
    from common.onecard_blocks import decode_value
    from kiosk.devices.sim.m1_card import VirtualM1Card
    paths = sorted(cards_dir.glob(M1_PREFIX + "*.json")) if cards_dir.is_dir() else []
    if paths:
        print(f"\n{'one-card UID':12}  {'holder':8}  {'purse':>12}  name")
    for path in paths:
        card = VirtualM1Card.load(path)
        try:
            purse = _yuan(decode_value(card.block(DEMO_MAP.purse_block))[0])
        except ValueError:
            purse = "(malformed)"
        where = f"  [in the {held[card.serial]} reader]" if card.serial in held else ""
        print(f"{card.serial:12}  {_pad(card.holder, 8)}  {purse:>12}  {card.label}{where}")


def _show(args: argparse.Namespace) -> int:
    from common.epurse import Wallet
    card = _open_card(args.cards_dir, args.serial)
    if card is None:
        print(f"kiosk sim card: no card {args.serial.upper()} in {args.cards_dir}", file=sys.stderr)
        return EXIT_ERROR
    if hasattr(card, "dump"):       # a one-card: its sector dump
        print("\n".join(card.dump()))
        return EXIT_OK
    if meter_cli.is_meter_number(args.serial):
        return meter_cli.show(card)
    print(f"card {card.serial}  {card.holder}  {card.name}".rstrip())
    print(f"  file            {card.path}")
    for wallet, label in ((Wallet.ED, "passbook (ED)"), (Wallet.EP, "purse (EP)")):
        p = card.purse(wallet)
        print(f"  {label:14}  {_yuan(p.balance):>12}  max {_yuan(p.maximum)}  "
              f"online counter {p.online_counter}  offline counter {p.offline_counter}")
    print(f"  PIN tries left  {card.pin_tries_left}/3" + ("  (blocked)" if card.pin_tries_left == 0 else ""))
    records = card.log_records()
    print(f"  last transactions ({len(records)}):" if records else "  no transactions yet")
    for r in records:
        w = r.when.hex()
        print(f"    {w[0:4]}-{w[4:6]}-{w[6:8]} {w[8:10]}:{w[10:12]}:{w[12:14]}  "
              f"{TXN_NAMES.get(r.txn_type, f'type {r.txn_type:02X}'):12} {_yuan(r.amount):>12}  "
              f"counter {r.counter}  terminal {r.term_id.hex().upper()}")
    return EXIT_OK


def _create(args: argparse.Namespace) -> int:
    from kiosk.devices.sim.cpu_card import VirtualCpuCard
    from common.money import Money
    if args.type == "meter":
        return meter_cli.create(args)
    if not args.holder:
        print("kiosk sim card create: --holder is required", file=sys.stderr)
        return EXIT_USAGE
    if args.type == "m1":
        return _create_m1(args)
    if args.serial is None or args.pin is None:
        print("kiosk sim card create: a CPU card needs --serial and --pin", file=sys.stderr)
        return EXIT_USAGE
    try:
        card = VirtualCpuCard.create(args.cards_dir, serial=args.serial, holder=args.holder, pin=args.pin,
                                     ed_balance=Money.parse(args.ed).fen, ep_balance=Money.parse(args.ep).fen,
                                     name=args.name, issued=SystemClock().today())
    except FileExistsError:
        print(f"kiosk sim card: card {args.serial.upper()} already exists in {args.cards_dir}", file=sys.stderr)
        return EXIT_ERROR
    except (ValueError, ArithmeticError) as exc:
        print(f"kiosk sim card create: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"created card {card.serial} ({card.holder}) in {card.path}")
    return EXIT_OK


def _create_m1(args: argparse.Namespace) -> int:
    """A fresh one-card per DESIGN §5 (demo keys), issued today, valid ten years."""
    from common.money import Money
    from common.onecard import BLACK_LISTED, BLACK_OK
    from kiosk.devices.sim.m1_card import VirtualM1Card
    from kiosk.devices.sim.m1_card_data import OneCardProfile
    from datetime import date
    today = SystemClock().today()
    try:
        if args.uid is None:
            raise ValueError("a one-card needs --uid (8 hex digits)")
        profile = OneCardProfile(
            uid=bytes.fromhex(args.uid), issued=today, expiry=date(today.year + 10, 12, 31),
            balance=Money.parse(args.balance).fen, serial=int(args.serial or "1"), house=args.house,
            household_id=args.household_id, holder=args.holder, black=BLACK_LISTED if args.black else BLACK_OK)
        card = VirtualM1Card.create(args.cards_dir, profile, label=args.name)
    except FileExistsError:
        print(f"kiosk sim card: one-card {args.uid.upper()} already exists in {args.cards_dir}", file=sys.stderr)
        return EXIT_ERROR
    except (ValueError, ArithmeticError, OverflowError) as exc:
        print(f"kiosk sim card create: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"created one-card {card.serial} ({card.holder}) in {card.path}")
    return EXIT_OK


def _insert(args: argparse.Namespace) -> int:
    from kiosk.devices.sim.pcscd import MEDIA_SLOTS
    from kiosk.devices.sim.vpcd import VpcdSlot, VpcdUnavailable
    held = _holder(args.cards_dir, args.reader)
    if held is not None:
        print(f"kiosk sim card: card {held[1]} is already in the {args.reader} reader "
              f"(pid {held[0]}); `kiosk sim card remove --reader {args.reader}` first", file=sys.stderr)
        return EXIT_ERROR
    card = _open_card(args.cards_dir, args.serial)
    if card is None:
        print(f"kiosk sim card: no card {args.serial.upper()} in {args.cards_dir} "
              f"(`kiosk sim card create` makes one)", file=sys.stderr)
        return EXIT_ERROR
    port = args.port or _ports()[MEDIA_SLOTS[args.reader]]
    slot = VpcdSlot(port)
    try:
        slot.insert(card)
    except VpcdUnavailable as exc:
        print(f"kiosk sim card: {exc}", file=sys.stderr)
        return EXIT_ERROR
    pid_file = _pid_file(args.cards_dir, args.reader)
    pid_file.write_text(f"{os.getpid()} {card.serial}\n")
    previous = signal.signal(signal.SIGTERM, _interrupt)   # `remove` ends us with SIGTERM
    print(f"card {card.serial} ({card.holder}) is in the {args.reader} reader (port {port}); "
          f"Ctrl-C or `kiosk sim card remove --reader {args.reader}` takes it out", flush=True)
    try:
        slot.wait_removed()
        print("the reader let the card go (pcscd stopped?)", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"card {card.serial} removed")
        return EXIT_OK
    finally:
        signal.signal(signal.SIGTERM, previous)
        slot.remove()
        if _holder(args.cards_dir, args.reader) == (os.getpid(), card.serial):
            pid_file.unlink(missing_ok=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _remove(args: argparse.Namespace) -> int:
    held = _holder(args.cards_dir, args.reader)
    if held is None:
        print(f"no card is held in the {args.reader} reader")
        return EXIT_OK
    pid, serial = held
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:      # another process: poll briefly until it let go
        if _holder(args.cards_dir, args.reader) is None:   # it deletes the pid file last
            print(f"card {serial} removed from the {args.reader} reader")
            return EXIT_OK
        time.sleep(0.02)
    print(f"kiosk sim card: pid {pid} did not end", file=sys.stderr)
    return EXIT_ERROR
