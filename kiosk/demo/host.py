"""The reference host for the demo: `kiosk host …` run in this process, and
`kiosk demo`'s host as a child process (itself `kiosk host serve`) behind a
breakable network link, on a seeded SQLite estate.

The only kiosk module that imports the host package (the import contract
"kiosk-imports-host-only-from-the-demo"): the kiosk proper talks to a host
over HTTP, never in process."""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from common.settings import CONFIG_DIR
from kiosk.devices.sim.network import FaultyLink, LinkMode

HANDOVER_ENV = "KIOSK_DEMO_HOST"           # "pid:port" of the running host, across staff's restart_app
HOST_CONFIG = CONFIG_DIR / "host.demo.toml"


def run_host_command(args: argparse.Namespace) -> int:
    """`kiosk host …` (kiosk.cli parses it): the reference host's own commands."""
    from host import cli as host_cli   # deferred: SQLAlchemy and the host load in ~0.25 s

    if args.host_command == "serve":
        return host_cli.serve(args.config, db_override=args.db, port=args.port, workers=args.workers)
    if args.host_command == "migrate":
        return host_cli.migrate(args.config, db_override=args.db)
    if args.host_command == "journal":
        return host_cli.export_journal(args.config, args.day, db_override=args.db)
    if args.host_command == "card":
        return host_cli.card(args.config, args.action, args.serial, db_override=args.db)
    if args.host_command == "onecard":
        return host_cli.onecard(args.config, args.action, db_override=args.db, what=args.what)
    if args.host_command == "meter":
        return host_cli.meter(args.config, args.action, args.meter, db_override=args.db)
    if args.host_command == "add-user":
        return host_cli.add_user(args.config, args.username, args.role, args.name, db_override=args.db)
    if args.host_command == "list-users":
        return host_cli.list_users(args.config, db_override=args.db)
    if args.host_command == "seed-demo":
        return host_cli.seed_demo(args.config, db_override=args.db, households=args.households, fresh=args.fresh)
    return host_cli.import_readings(args.config, args.file, db_override=args.db)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DemoHost:
    """The reference host as a child process behind a breakable network link;
    the bench's switches (BenchControls): switching the host off stops the
    process; the network switch breaks the link the kiosk talks through."""

    def __init__(self, db_url: str, port: int, log: Path, *, adopted_pid: int | None = None) -> None:
        self.db_url, self.port = db_url, port
        self.url = f"http://127.0.0.1:{port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._adopted = adopted_pid   # the host an earlier run of this process started (restart_app)
        self._log = log
        self.link = FaultyLink("127.0.0.1", port)   # the kiosk's URL is self.link.url

    @property
    def console_url(self) -> str:
        return f"{self.url}/console/"   # staff reach the host directly, not through the kiosk's link

    @property
    def network_mode(self) -> LinkMode:
        return self.link.mode

    async def set_network_mode(self, mode: LinkMode) -> None:
        await asyncio.to_thread(self.link.set_mode, mode)

    @property
    def host_running(self) -> bool:
        if self._adopted is not None:
            try:
                return os.waitpid(self._adopted, os.WNOHANG) == (0, 0)
            except ChildProcessError:   # gone, and reaped already
                return False
        return self._proc is not None and self._proc.poll() is None

    def hand_over(self) -> None:
        """Keep the host running for this process's next run (restart_app)."""
        pid = self._adopted if self._adopted is not None else (self._proc.pid if self._proc else None)
        if pid is not None:
            os.environ[HANDOVER_ENV] = f"{pid}:{self.port}"
        self._proc = self._adopted = None

    @classmethod
    def adopt(cls, db_url: str, log: Path) -> DemoHost | None:
        """The host handed over by hand_over() before the restart, if still running."""
        pid_port = os.environ.pop(HANDOVER_ENV, "")
        if not pid_port:
            return None
        pid, port = (int(x) for x in pid_port.split(":"))
        host = cls(db_url, port, log, adopted_pid=pid)
        return host if host.host_running else None

    def start(self, timeout_s: float = 20.0) -> None:
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "kiosk", "host", "serve", "--config", str(HOST_CONFIG),
                 "--db", self.db_url, "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the demo host exited at start; see {self._log}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"the demo host did not answer within {timeout_s:.0f} s; see {self._log}")

    def stop(self) -> None:
        if self._adopted is not None:
            pid, self._adopted = self._adopted, None
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass                    # it had stopped by itself
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    async def set_host_running(self, running: bool) -> None:
        await asyncio.to_thread(self.start if running else self.stop)


def prepare_database(folder: Path, *, fresh: bool) -> str:
    """Seed the demo estate once; later runs reuse it (payments persist), migrated
    to this release's schema (`kiosk host migrate`). A database from an older demo without the bank's accounts or the IC card
    registry is seeded afresh."""
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "host.db"
    db_url = f"sqlite:///{db_path}"
    if not _has_card_accounts(db_path):
        print("demo: seeding the demo estate, its bank accounts and IC card registry ...", flush=True)
        # the virtual IC cards start again with the registry that mirrors them
        shutil.rmtree(folder / "cards", ignore_errors=True)
        from host import cli as host_cli   # deferred: SQLAlchemy and the host load in ~0.25 s
        if host_cli.seed_demo(HOST_CONFIG, db_override=db_url, fresh=True) != 0:
            raise RuntimeError("seeding the demo estate failed")
    else:
        from host import cli as host_cli
        # a demo database kept from an older release: its payments stay, its schema moves on
        if host_cli.migrate(HOST_CONFIG, db_override=db_url) != 0:
            raise RuntimeError("migrating the demo database failed")
    return db_url


def _has_card_accounts(db_path: Path) -> bool:
    if not db_path.exists():
        return False
    with sqlite3.connect(db_path) as db:
        try:
            return (db.execute("SELECT COUNT(*) FROM bank_accounts").fetchone()[0] > 0
                    and db.execute("SELECT COUNT(*) FROM ic_cards").fetchone()[0] > 0)
        except sqlite3.OperationalError:
            return False


