"""A throw-away PostgreSQL server for one test session (issue 12: the host's
tests run on a real PostgreSQL as well as on SQLite; no mock).

Debian's `postgresql` package (scripts/setup.sh) puts the server's binaries in
/usr/lib/postgresql/<major>/bin. `PgServer` runs `initdb` in a temporary data
directory and `pg_ctl start` on a free loopback port, with its unix socket in
that directory too (never /var/run/postgresql: a system server, or another
test run, may use it). PostgreSQL refuses to run as root, so when the tests do
the server runs as the unprivileged system user `postgres` (Debian's package
creates it) through `runuser`; the directory is handed to that user.

Databases: `create_template(name)` makes an empty database the caller fills
once (schema and seed); `clone(template)` makes a fresh database from it with
`CREATE DATABASE … TEMPLATE …` (a file copy inside the server: a seeded estate
in tens of milliseconds, so each host gets its own)."""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

SERVER_USER = "postgres"      # Debian's postgresql package creates it; setup.sh makes sure
SUPERUSER = "kiosk_test"      # the cluster's superuser (initdb -U), trusted on loopback only


def find_bin_dir() -> Path | None:
    """The newest installed server's bin directory, or None when there is none."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file()
             and (p / "pg_ctl").is_file()]
    if not found:
        return None
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def missing_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    if find_bin_dir() is None:
        return "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (scripts/setup.sh installs them)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pyproject.toml's dependencies; scripts/setup.sh)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no '{SERVER_USER}' system user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One private cluster: start() it, make databases, stop() it (removes the directory)."""

    def __init__(self, durable: bool = False, parent: Path | None = None) -> None:
        """`durable`: fsync on, as a production server; `parent`: where its
        folder goes (the server's user must be able to reach it) — both for
        benchmarks/bench_payments.py, on the project's disk."""
        bin_dir = find_bin_dir()
        self.durable = durable
        assert bin_dir is not None, missing_reason()
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="kiosk-pg-", dir=parent))
        self.data = self.folder / "data"
        self.port = 0
        self._names = itertools.count(1)
        self._lock = threading.Lock()

    # --- running the server's tools as the right user ----------------------------
    def _run(self, *args: str) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stdout}\n{done.stderr}")

    def start(self) -> "PgServer":
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            os.chmod(self.folder, 0o700)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        self.port = _free_port()
        # fsync off: a test server's data need not survive a power cut, and 2 shared
        # cores should not wait for the disk; max_connections for hosts' pools side by side
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder} "
                   "-c max_connections=300 -c shared_buffers=64MB")
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-o", options,
                  "-w", "-t", "60", "start")
        return self

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart -m mode` (same options): every connection is cut, the
        server is back when this returns (tests/host/test_worker_faults.py)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-m", mode,
                  "-w", "-t", "60", "restart")

    def stop(self) -> None:
        if self.port:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            finally:
                self.port = 0
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- databases --------------------------------------------------------------
    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]   # our own identifiers, never input

    def new_name(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_{next(self._names)}"

    def create_database(self, prefix: str = "host", template: str = "template0") -> str:
        """A new empty database (or a copy of `template`); its URL."""
        name = self.new_name(prefix)
        with self._lock:       # CREATE DATABASE … TEMPLATE refuses while another copy is being made
            self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
