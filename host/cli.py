"""What `kiosk host ...` calls. Each returns an exit code; user errors (bad
config, bad CSV, already seeded) print one clear message, never a traceback."""
from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from host.config import DEMO_HOST_CONFIG, ConfigError, HostSettings, db_url_from_override, load_host_settings
from host.db import make_engine
from host import migrations
from host.schema import create_tables, drop_tables
from host.schema.estate import households as households_t
from common.clock import Clock, SystemClock

if TYPE_CHECKING:
    import uvicorn

    from host.workers import WorkerRole

MAX_LISTED_PROBLEMS = 200


class _Stopped(Exception):
    """SIGINT/SIGTERM outside uvicorn's own handling."""


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _open(config_path: Path | str, db_override: str | None) -> tuple[HostSettings, Engine]:
    settings = load_host_settings(config_path)
    url = db_url_from_override(db_override) if db_override else settings.database_url
    engine = make_engine(url)
    # an empty host starts with an empty estate at head; one behind is refused
    # (SchemaNotCurrent: `kiosk host migrate`) before any command touches it
    migrations.ready(engine)
    return settings, engine


def _guarded(action: Callable[[], int]) -> int:
    try:
        return action()
    except ConfigError as exc:
        _err(f"bad configuration: {exc}")
        return 2
    except migrations.SchemaNotCurrent as exc:
        _err(str(exc))
        return 1
    except SQLAlchemyError as exc:
        _err(f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
        return 1


def serve(config_path: Path | str = DEMO_HOST_CONFIG, db_override: str | None = None,
          port: int | None = None, *, workers: int = 1, clock: Clock | None = None) -> int:
    """Run the host in the foreground until Ctrl-C / SIGTERM. `port` overrides the config's.
    `workers` above 1: that many processes behind the one port (host.workers), PostgreSQL only."""
    def run() -> int:
        if workers < 1:
            _err(f"--workers must be at least 1, not {workers}")
            return 2
        settings, engine = _open(config_path, db_override)
        if workers > 1 and engine.dialect.name == "sqlite":
            _err(f"--workers {workers} needs PostgreSQL: SQLite has one writer and no way to tell the other "
                 "workers about heartbeats, commands and live events; serve one worker on SQLite, or set "
                 "[host] database_url to a postgresql+psycopg:// URL (docs/host.md \"Several workers\")")
            return 2
        listen_port = settings.listen_port if port is None else port
        shown = make_url(engine.url).render_as_string(hide_password=True)
        scheme = "https" if settings.tls else "http"
        print(f"host for {settings.estate_name} on {scheme}://{settings.listen_host}:{listen_port} "
              f"(database {shown})", flush=True)
        from host.onecard.blacklist import run_refresh
        # the daily run, also at start: here, before any worker exists, so exactly once
        listed = run_refresh(engine, settings, clock or SystemClock())
        print(f"one-card blacklist: {listed.households} households, version {listed.version}", flush=True)
        if workers == 1:
            return _serve_process(settings, engine, listen_port, clock)
        return _serve_workers(settings, engine, listen_port, workers, clock)
    return _guarded(run)


def _serve_process(settings: HostSettings, engine: Engine, listen_port: int, clock: Clock | None,
                   role: "WorkerRole | None" = None, sockets: "tuple[socket.socket, socket.socket | None] | None"
                   = None) -> int:
    """One process serving the app (and the bank front-end) until SIGINT/SIGTERM:
    the whole host, or one of several workers (`role`, on the supervisor's `sockets`)."""
    import uvicorn

    from host.app import create_app

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to
    # the handler that was there before. Ours turns it (or one that arrives before
    # uvicorn takes over) into a clean exit 0: no KeyboardInterrupt traceback,
    # no death by signal.
    def stop(_sig: int, _frame: object) -> None:
        raise _Stopped

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    app = create_app(settings, engine, clock=clock, worker=role)
    # timeout_graceful_shutdown: open console pages hold event streams that never
    # end by themselves; after 3 s they are cut so that Ctrl-C / SIGTERM stop the host
    cert, key = settings.tls or (None, None)
    config = uvicorn.Config(app, host=settings.listen_host, port=listen_port, ssl_certfile=cert, ssl_keyfile=key,
                            log_level="info", lifespan="off", timeout_graceful_shutdown=3)
    try:
        asyncio.run(_serve_all(uvicorn.Server(config), settings, engine, clock or SystemClock(), sockets))
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        from host.console.mount import console_of
        console_of(app).fleet.flush_blocking()   # the fleet's last seconds of state, written down
    return 0


def _serve_workers(settings: HostSettings, engine: Engine, listen_port: int, count: int,
                   clock: Clock | None) -> int:
    """The supervisor of `count` workers (host.workers): binds, forks, restarts."""
    from host.workers import Supervisor, bind

    try:
        http_sock = bind(settings.listen_host, listen_port)
    except OSError as exc:
        _err(f"cannot listen on {settings.listen_host}:{listen_port}: {exc}")
        return 1
    bank_sock = None
    if settings.bank_link is not None:
        try:
            bank_sock = bind(settings.bank_link.host, settings.bank_link.port)
        except OSError as exc:
            _err(f"bank front-end not started on {settings.bank_link.host}:{settings.bank_link.port}: {exc}")
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()          # no pooled connection may cross the fork

    def work(role: WorkerRole) -> int:
        return _serve_process(settings, make_engine(url), listen_port, clock, role, (http_sock, bank_sock))
    try:
        return Supervisor(count, work).run()
    finally:
        http_sock.close()
        if bank_sock is not None:
            bank_sock.close()


async def _serve_all(server: "uvicorn.Server", settings: HostSettings, engine: Engine, clock: Clock,
                     sockets: "tuple[socket.socket, socket.socket | None] | None" = None) -> None:
    """The HTTP app and, when [bank] has a link_port, the ISO 8583 bank front-end
    (host.bank.frontend) on one event loop. A bank port that is taken is said
    and the HTTP host runs on (the kiosks' other services do not depend on it).
    `sockets`: the HTTP and bank sockets a supervisor bound (host.workers)."""
    from host.bank.frontend import BankFrontEnd

    http_sock, bank_sock = sockets if sockets is not None else (None, None)
    front: BankFrontEnd | None = None
    if settings.bank_link is not None and (sockets is None or bank_sock is not None):
        front = BankFrontEnd(settings, settings.bank_link, engine, clock)
        try:
            await front.start(sock=bank_sock)
            if bank_sock is None:
                print(f"bank front-end (ISO 8583) on {settings.bank_link.host}:{front.port}", flush=True)
        except OSError as exc:
            _err(f"bank front-end not started on {settings.bank_link.host}:{settings.bank_link.port}: {exc}")
            front = None
    try:
        await server.serve(sockets=None if http_sock is None else [http_sock])
    finally:
        if front is not None:
            await front.close()


def migrate(config_path: Path | str = DEMO_HOST_CONFIG, db_override: str | None = None) -> int:
    """`kiosk host migrate`: upgrade the database to this release's schema (head),
    in one transaction. An empty database runs every revision; one made before
    migrations existed (no alembic_version) is recognised and stamped at the first
    revision, its rows untouched, then upgraded. 0 done, 1 database / newer schema, 2 config."""
    def run() -> int:
        settings = load_host_settings(config_path)
        engine = make_engine(db_url_from_override(db_override) if db_override else settings.database_url)
        try:
            before, after = migrations.migrate(engine)
        finally:
            engine.dispose()
        said = {"empty": "empty database created", "legacy": "database from before migrations stamped and upgraded",
                "behind": "upgraded", "current": "already"}[before]
        print(f"{said} at revision {after}")
        return 0
    return _guarded(run)


def seed_demo(config_path: Path | str = DEMO_HOST_CONFIG, db_override: str | None = None,
              households: int = 2000, *, fresh: bool = False, clock: Clock | None = None) -> int:
    """Seed the demo estate as of the clock's today. Refuses a database that already holds households
    (it could be a real site's) unless `fresh`, which drops every host table first."""
    from host import seed

    def run() -> int:
        settings, engine = _open(config_path, db_override)
        with engine.connect() as conn:
            existing = conn.execute(select(func.count()).select_from(households_t)).scalar()
        if existing and not fresh:
            _err(f"the database already holds {existing} households; not seeding over them "
                 "(use --fresh to wipe every host table and seed again)")
            return 1
        if fresh:
            drop_tables(engine)
            create_tables(engine)
        try:
            summary = seed.seed_demo(engine, settings, households, today=(clock or SystemClock()).today())
        except ValueError as exc:
            _err(str(exc))
            return 2
        print(summary)
        print("demo houses: " + ", ".join(f"{h} ({k.replace('_', ' ')})" for k, h in seed.DEMO_HOUSES.items()))
        return 0
    return _guarded(run)


def import_readings(config_path: Path | str, csv_path: Path | str, db_override: str | None = None, *,
                    clock: Clock | None = None) -> int:
    """Import a meter-reading CSV and bill (a month after the clock's today is refused);
    problems go to stderr by line number."""
    from host.readings_import import ImportRejected
    from host.readings_import import import_readings as do_import

    def run() -> int:
        if not Path(csv_path).is_file():
            _err(f"{csv_path}: no such file")
            return 2
        settings, engine = _open(config_path, db_override)
        try:
            summary = do_import(engine, csv_path, settings, today=(clock or SystemClock()).today())
        except ImportRejected as exc:
            _err(str(exc))
            for problem in exc.problems[:MAX_LISTED_PROBLEMS]:
                print(f"  {problem}", file=sys.stderr)
            if len(exc.problems) > MAX_LISTED_PROBLEMS:
                print(f"  ... and {len(exc.problems) - MAX_LISTED_PROBLEMS} more", file=sys.stderr)
            return 1
        print(f"{csv_path}: {summary}")
        return 0
    return _guarded(run)


def export_journal(config_path: Path | str, day: str, db_override: str | None = None) -> int:
    """`kiosk host journal DAY`: print the bank journal of business day DAY
    (YYYY-MM-DD) as CSV on stdout, masked PANs only, for reconciliation."""
    from host.bank.journal import journal_csv

    def run() -> int:
        try:
            when = date.fromisoformat(day)
            if len(day) != 10:
                raise ValueError(day)
        except ValueError:
            _err(f"day {day!r} must be YYYY-MM-DD")
            return 2
        _, engine = _open(config_path, db_override)
        with engine.connect() as conn:
            sys.stdout.write(journal_csv(conn, when))
        sys.stdout.flush()
        return 0
    return _guarded(run)


def card(config_path: Path | str, action: str, serial: str | None = None, db_override: str | None = None, *,
         clock: Clock | None = None) -> int:
    """`kiosk host card list | report-lost SERIAL | unblock SERIAL`: the card
    registry for staff (host.cards.staff). 0 done, 1 unknown card / database, 2 config."""
    from host.cards.staff import card_action

    def run() -> int:
        _, engine = _open(config_path, db_override)
        return card_action(engine, action, serial, print, _err, now=(clock or SystemClock()).now)
    return _guarded(run)


def onecard(config_path: Path | str, action: str, db_override: str | None = None, what: str = "show",
            *, clock: Clock | None = None) -> int:
    """`kiosk host onecard list | flags`: the one-card registry with its mirrors,
    and the cards refused at a kiosk for staff (host.onecard.staff);
    `kiosk host onecard blacklist [show | refresh]`: the unpaid-fee blacklist
    (host.onecard.blacklist; refresh is the daily run)."""
    from host.onecard.blacklist import blacklist_action
    from host.onecard.staff import onecard_action

    def run() -> int:
        settings, engine = _open(config_path, db_override)
        if action == "blacklist":
            return blacklist_action(engine, settings, clock or SystemClock(), what, print)
        return onecard_action(engine, action, print)
    return _guarded(run)


def meter(config_path: Path | str, action: str, number: str | None = None, db_override: str | None = None, *,
          clock: Clock | None = None) -> int:
    """`kiosk host meter list | report-lost METER | reissue METER`: the prepaid
    meters' user cards for staff (host.meters.staff). Reissue prints the new
    card's EF 01 (carrying the last purchase count) for the card writer; its
    EF 02 stays blank. 0 done, 1 unknown meter / refused / database, 2 config."""
    from host.meters.staff import meter_action

    def run() -> int:
        settings, engine = _open(config_path, db_override)
        return meter_action(engine, settings, action, number, print, _err, now=(clock or SystemClock()).now)
    return _guarded(run)


def _read_password() -> str:
    """Twice from the terminal (never on the command line: it would show in `ps`),
    or once from stdin when it is not a terminal (scripts)."""
    import getpass
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def add_user(config_path: Path | str, username: str, role: str, display_name: str = "",
             db_override: str | None = None, read_password: Callable[[], str] = _read_password) -> int:
    """`kiosk host add-user NAME --role viewer|operator|admin`: a staff account for
    the console (docs/console.md); the password is asked for, stored as scrypt.
    0 added, 1 refused (exists, weak password, bad name) / database, 2 config."""
    from host.console.accounts import AccountError, Accounts
    from host.console.audit import AuditLog

    def run() -> int:
        settings, engine = _open(config_path, db_override)
        try:
            password = read_password()
            user = Accounts(engine, settings.console).add(username, password, role, display_name=display_name,
                                                          by="cli")
        except (AccountError, ValueError) as exc:
            _err(str(exc))
            return 1
        AuditLog(engine).record("user_added", username="cli", target=user.username, detail={"role": user.role})
        print(f"added {user.username} ({user.role})")
        return 0
    return _guarded(run)


def list_users(config_path: Path | str, db_override: str | None = None) -> int:
    """`kiosk host list-users`: the console's staff accounts."""
    from host.console.accounts import Accounts

    def run() -> int:
        settings, engine = _open(config_path, db_override)
        for user in Accounts(engine, settings.console).all():
            state = "disabled" if user.disabled else "active"
            print(f"{user.username:<20} {user.role:<9} {state:<9} {user.display_name}")
        return 0
    return _guarded(run)
