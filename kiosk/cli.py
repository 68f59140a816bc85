"""The `kiosk` command: demo | run | host ... | bill."""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from datetime import date
from pathlib import Path

from common.settings import CONFIG_DIR, ConfigError
from kiosk.config import DEMO_KIOSK_CONFIG

DEMO_HOST_CONFIG = CONFIG_DIR / "host.demo.toml"

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_HOST_DOWN = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk", description="Estate self-service payment kiosk")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the whole system on one machine (host + kiosk + device bench)")
    demo.add_argument("--tour", metavar="DIR", type=Path,
                      help="drive every screen, write a PNG of each into DIR, then exit")

    run = sub.add_parser("run", help="the kiosk alone, full screen, against the configured host")
    run.add_argument("--config", type=Path, default=DEMO_KIOSK_CONFIG, help="kiosk TOML file")

    host = sub.add_parser("host", help="the reference property / bank host")
    host_sub = host.add_subparsers(dest="host_command", required=True)
    for name, text in (("serve", "serve the host API"),
                       ("journal", "print the bank journal of a business day as CSV"),
                       ("migrate", "upgrade the database's schema to this release's"),
                       ("seed-demo", "create the demo estate with 3 months of readings and bills"),
                       ("import-readings", "import a meter-reading CSV and bill its month")):
        cmd = host_sub.add_parser(name, help=text)
        cmd.add_argument("--config", type=Path, default=DEMO_HOST_CONFIG, help="host TOML file")
        cmd.add_argument("--db", help="database URL (overrides the config)")
        if name == "serve":
            cmd.add_argument("--port", type=int, help="listen port (overrides the config)")
            cmd.add_argument("--workers", type=int, default=1,
                             help="processes behind the one port (PostgreSQL only above 1; docs/host.md)")
        if name == "import-readings":
            cmd.add_argument("file", type=Path, help="CSV export of the meter-reading system")
        if name == "journal":
            cmd.add_argument("day", help="business day, YYYY-MM-DD")
        if name == "seed-demo":
            cmd.add_argument("--households", type=int, default=2000)
            cmd.add_argument("--fresh", action="store_true",
                             help="wipe every host table first (refused otherwise if households exist)")

    card = host_sub.add_parser("card", help="the IC card registry: list, report a card lost, unblock it")
    card.add_argument("action", choices=("list", "report-lost", "unblock"))
    card.add_argument("serial", nargs="?", help="the card's 20-hex-digit serial (report-lost, unblock)")
    card.add_argument("--config", type=Path, default=DEMO_HOST_CONFIG, help="host TOML file")
    card.add_argument("--db", help="database URL (overrides the config)")

    onecard = host_sub.add_parser("onecard", help="the estate one-cards: their mirrors, the cards flagged for staff")
    onecard.add_argument("action", choices=("list", "flags", "blacklist"))
    onecard.add_argument("what", nargs="?", choices=("show", "refresh"), default="show",
                         help="blacklist: show it, or refresh it (the daily run)")
    onecard.add_argument("--config", type=Path, default=DEMO_HOST_CONFIG, help="host TOML file")
    onecard.add_argument("--db", help="database URL (overrides the config)")
    meter = host_sub.add_parser("meter", help="prepaid meters: list, report a user card lost, reissue it")
    meter.add_argument("action", choices=("list", "report-lost", "reissue"))
    meter.add_argument("meter", nargs="?", help="the meter number, 12 digits (report-lost, reissue)")
    meter.add_argument("--config", type=Path, default=DEMO_HOST_CONFIG, help="host TOML file")
    meter.add_argument("--db", help="database URL (overrides the config)")

    add_user = host_sub.add_parser("add-user", help="add a staff account for the web console")
    add_user.add_argument("username")
    add_user.add_argument("--role", required=True, choices=("viewer", "operator", "admin"))
    add_user.add_argument("--name", default="", help="the name shown on the console")
    list_users = host_sub.add_parser("list-users", help="list the web console's staff accounts")
    for cmd in (add_user, list_users):
        cmd.add_argument("--config", type=Path, default=DEMO_HOST_CONFIG, help="host TOML file")
        cmd.add_argument("--db", help="database URL (overrides the config)")

    reprint = sub.add_parser("reprint", help="reprint a payment's receipt from the kiosk journal")
    reprint.add_argument("txn_id", nargs="?", help="transaction id (default: the latest approved payment)")
    reprint.add_argument("--config", type=Path, default=DEMO_KIOSK_CONFIG, help="kiosk TOML file")

    bill = sub.add_parser("bill", help="print a household's itemized bill from a host (signed on as the "
                          "kiosk of --config, with its keys and message counter)")
    bill.add_argument("house", help="house number, building-unit-room, e.g. 3-2-1202")
    bill.add_argument("--host", dest="host_url", help="host URL (default: from --config); only the URL changes")
    bill.add_argument("--config", type=Path, default=DEMO_KIOSK_CONFIG,
                      help="kiosk TOML file: its id, keys ([security] tmk) and journal sign the look-up")
    bill.add_argument("--json", action="store_true", help="machine-readable output")

    from kiosk import sim_cli   # `kiosk sim card …` (light: imports its devices when run)
    sim_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from kiosk.demo.runner import run_demo
            return run_demo(tour_dir=args.tour)
        if args.command == "run":
            from kiosk.runner import run_kiosk
            return run_kiosk(args.config)
        if args.command == "host":
            # the reference host's commands, through the demo's composition: the
            # one kiosk module allowed to import the host package
            from kiosk.demo.host import run_host_command
            return run_host_command(args)
        if args.command == "bill":
            return _bill(args)
        if args.command == "reprint":
            return _reprint(args)
        if args.command == "sim":
            from kiosk import sim_cli
            return sim_cli.run(args)
    except ConfigError as exc:
        print(f"kiosk: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_USAGE


def _bill(args: argparse.Namespace) -> int:
    from kiosk.billprint import render_bill
    from kiosk.bootstrap import build
    from kiosk.config import HostSettings, load_kiosk_settings
    from common.errors import KeyedError
    from kiosk.domain.errors import HostUnavailable

    try:
        settings = load_kiosk_settings(args.config)
    except ConfigError as exc:
        if exc.key == "security.tmk":   # the look-up is signed: no keys, no bill
            print(f"kiosk bill: the bill look-up is signed with the kiosk's keys, and {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise
    if args.host_url:
        settings = dataclasses.replace(settings, host=HostSettings(url=args.host_url.rstrip("/"), timeout_s=5.0))
    url = settings.host.url

    async def lookup():
        # the bill look-up alone: the kiosk's keys and journal (its message counter),
        # no devices, wallet or fleet; it signs on as the kiosk of --config
        kiosk = build(settings, with_payments=False, with_fleet=False)
        try:
            return await kiosk.bills.lookup(args.house)
        finally:
            await kiosk.aclose()

    try:
        bill = asyncio.run(lookup())
    except HostUnavailable as exc:
        print(f"kiosk bill: host {url} unavailable ({exc.detail})", file=sys.stderr)
        return EXIT_HOST_DOWN
    except KeyedError as exc:
        print(f"kiosk bill: {args.house}: {type(exc).__name__} {exc.detail}".rstrip(), file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(dataclasses.asdict(bill), default=_json_default, ensure_ascii=False, indent=2))
    else:
        print(render_bill(bill))
    return EXIT_OK


def _json_default(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _reprint(args: argparse.Namespace) -> int:
    """For staff: the receipt again, marked REPRINT, from the journal alone."""
    from kiosk.bootstrap import build
    from kiosk.config import load_kiosk_settings

    async def reprint() -> int:
        from kiosk.services.receipts import wallet_receipt

        kiosk = build(load_kiosk_settings(args.config), with_payments=True, with_wallet=False, with_fleet=False)
        try:
            assert kiosk.journal is not None and kiosk.payments is not None
            done = ("approved", "completed", "confirming")   # bank-card payments; wallet transactions
            if args.txn_id:
                entry = kiosk.journal.get(args.txn_id)
                entry = entry if entry is not None and entry.state in done else None
            else:
                finished = kiosk.journal.in_state(*done)   # oldest first
                entry = finished[-1] if finished else None
            if entry is None:
                print(f"kiosk reprint: no finished transaction {args.txn_id or ''} in the journal".rstrip(),
                      file=sys.stderr)
                return EXIT_ERROR
            txn_id, payments = entry.txn_id, kiosk.payments
            if entry.kind == "bill_payment":
                printed = await payments.print_receipt(txn_id, reprint=True)
            else:
                printed = await payments.print(wallet_receipt(entry, kiosk.settings.estate_name,
                                                              kiosk.settings.kiosk_id, reprint=True))
            if not printed:
                print("kiosk reprint: the printer did not print (paper out or offline)", file=sys.stderr)
                return EXIT_ERROR
            print(f"reprinted {txn_id}")
            return EXIT_OK
        finally:
            await kiosk.aclose()

    return asyncio.run(reprint())
