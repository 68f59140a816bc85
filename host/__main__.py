"""`python -m host serve|migrate|seed|import|journal`: the same functions `kiosk host ...` calls."""
from __future__ import annotations

import argparse
import sys

from host import cli
from host.config import DEMO_HOST_CONFIG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m host", description="reference property host")
    parser.add_argument("--config", default=str(DEMO_HOST_CONFIG), help="host TOML file")
    parser.add_argument("--db", help="database URL or SQLite file (overrides the config)")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the host in the foreground")
    serve.add_argument("--port", type=int, help="listen port (overrides the config)")
    serve.add_argument("--workers", type=int, default=1, help="processes behind the one port (PostgreSQL only above 1)")
    commands.add_parser("migrate", help="upgrade the database's schema to this release's")
    seed = commands.add_parser("seed", help="seed the demo estate")
    seed.add_argument("--households", type=int, default=2000)
    seed.add_argument("--fresh", action="store_true", help="wipe every host table first")
    imp = commands.add_parser("import", help="import a meter-reading CSV and bill")
    imp.add_argument("csv")
    journal = commands.add_parser("journal", help="print a business day's bank journal as CSV")
    journal.add_argument("day", help="YYYY-MM-DD")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return cli.serve(args.config, args.db, args.port, workers=args.workers)
    if args.command == "migrate":
        return cli.migrate(args.config, args.db)
    if args.command == "seed":
        return cli.seed_demo(args.config, args.db, args.households, fresh=args.fresh)
    if args.command == "journal":
        return cli.export_journal(args.config, args.day, args.db)
    return cli.import_readings(args.config, args.csv, args.db)


if __name__ == "__main__":
    sys.exit(main())
