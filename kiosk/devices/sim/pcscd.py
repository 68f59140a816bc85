"""A pcscd of our own with two vpcd slots, so that the demo and the tests never
meet the system's pcscd (or each other).

pcscd refuses to start while /run/pcscd/pcscd.comm exists and always puts its
socket there, so ours runs in its own mount namespace with /run/pcscd bound to
our folder (`unshare -m`, needs root); clients reach it through
PCSCLITE_CSOCK_NAME=<folder>/pcscd.comm. pcsc-lite reads that variable once,
at the process's first PC/SC call, so it must be set before then -- and a
restart must reuse the same folder.

Without root we fall back to the system pcscd and vpcd's default ports.

`var/demo/pcscd.json` ({"ports": [...], "socket": "..."}) tells `kiosk sim
card insert` where the demo's private pcscd listens (read/write_pcscd_info)."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from common.settings import PROJECT_ROOT

READER_NAMES = ("Virtual PCD 00 00", "Virtual PCD 00 01")
MEDIA_SLOTS = {"contact": 0, "contactless": 1}     # which slot plays which reader
SYSTEM_PORTS = (35963, 35964)
SYSTEM_SOCKET = Path("/run/pcscd/pcscd.comm")
PCSCD_INFO_FILE = PROJECT_ROOT / "var" / "demo" / "pcscd.json"
VPCD_DRIVERS = (Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so"),
                Path("/usr/lib/x86_64-linux-gnu/pcsc/drivers/serial/libifdvpcd.so"),
                Path("/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so"))
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"


class PcscdError(RuntimeError):
    """pcscd or the vpcd driver is missing, or pcscd did not come up; says why."""


@dataclass(frozen=True)
class PcscdInfo:
    ports: tuple[int, ...]
    socket: str | None


def write_pcscd_info(ports: tuple[int, ...], socket_path: Path | str | None,
                     path: Path = PCSCD_INFO_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"ports": list(ports), "socket": str(socket_path) if socket_path else None}))
    os.replace(tmp, path)


def read_pcscd_info(path: Path = PCSCD_INFO_FILE) -> PcscdInfo | None:
    """None if the file is missing or unreadable (then: the system pcscd)."""
    try:
        data = json.loads(path.read_text())
        return PcscdInfo(tuple(int(p) for p in data["ports"]), data.get("socket"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_vpcd_driver() -> Path | None:
    return next((p for p in VPCD_DRIVERS if p.exists()), None)


def _tcp_ports(listening_only: bool) -> set[int]:
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and (fields[3] == "0A" or not listening_only):
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def listening_ports() -> set[int]:
    """TCP ports in LISTEN state on this host (from /proc; connecting to a vpcd
    port to probe it would look like a card being inserted)."""
    return _tcp_ports(listening_only=True)


def ports_in_use() -> set[int]:
    """The local port of every TCP socket on this host, whatever its state. Pick
    vpcd ports outside these: a client connection whose ephemeral port falls in
    our range blocks vpcd's bind as surely as a listener does (seen in CI:
    "Address already in use" on a port no one listened on)."""
    return _tcp_ports(listening_only=False)


class PrivatePcscd:
    """start() / stop(), or use as a context manager. `private` is False when
    the system pcscd is used instead (not root)."""

    def __init__(self, folder: Path, base_port: int = 40000, *, start_timeout_s: float = 10.0) -> None:
        self.folder = Path(folder).resolve()
        self.start_timeout_s = start_timeout_s
        self.private = os.geteuid() == 0 and shutil.which("unshare") is not None
        self.ports: tuple[int, int] = (base_port, base_port + 1) if self.private else SYSTEM_PORTS
        self.reader_names = READER_NAMES
        self.socket_path = self.folder / "pcscd.comm" if self.private else SYSTEM_SOCKET
        self.log_path = self.folder / "pcscd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def threads(self) -> int:
        """pcscd's thread count: one per PC/SC context a client holds, plus its
        own few (Linux /proc). It refuses every new client at 200."""
        assert self.pid is not None, "pcscd is not running"
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def info(self) -> PcscdInfo:
        return PcscdInfo(self.ports, str(self.socket_path))

    def start(self) -> None:
        if self.running:
            return
        pcscd = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
        if pcscd is None:
            raise PcscdError("pcscd is not installed (apt-get install pcscd)")
        driver = find_vpcd_driver()
        if driver is None:
            raise PcscdError("the vpcd driver is not installed (apt-get install vsmartcard-vpcd)")
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.private:
            self._start_private(pcscd, driver)
        else:
            self._start_system(pcscd)

    def _start_private(self, pcscd: str, driver: Path) -> None:
        busy = set(self.ports) & listening_ports()
        if busy:
            raise PcscdError(f"port(s) {sorted(busy)} already in use: another pcscd with vpcd on them?")
        for stale in ("pcscd.comm", "pcscd.pid"):
            (self.folder / stale).unlink(missing_ok=True)
        conf = self.folder / "reader.conf"
        conf.write_text(f'FRIENDLYNAME "Virtual PCD"\n'
                        f"DEVICENAME   /dev/null:0x{self.ports[0]:X}\n"
                        f"LIBPATH      {driver}\n"
                        f"CHANNELID    0x{self.ports[0]:X}\n")
        Path("/run/pcscd").mkdir(parents=True, exist_ok=True)   # the mount point
        # unshare and sh exec into pcscd: the child's pid is pcscd's.
        script = (f"mount --bind {shlex.quote(str(self.folder))} /run/pcscd && "
                  f"exec {shlex.quote(pcscd)} --foreground --config {shlex.quote(str(conf))}")
        self._spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script])
        os.environ[SOCKET_ENV] = str(self.socket_path)
        self._wait_ready(need_ports=True)

    def _start_system(self, pcscd: str) -> None:
        if SYSTEM_SOCKET.exists():
            return          # the system's own pcscd: not ours to start or stop
        self._spawn([pcscd, "--foreground"])
        self._wait_ready(need_ports=False)

    def _spawn(self, argv: list[str]) -> None:
        with open(self.log_path, "ab") as log:
            try:
                self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                raise PcscdError(f"cannot run {argv[0]}: {exc}") from exc

    def _wait_ready(self, need_ports: bool) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise PcscdError(f"pcscd exited with status {code} while starting: {self._log_tail()}")
            if self.socket_path.exists() and (not need_ports or set(self.ports) <= listening_ports()):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise PcscdError(f"pcscd did not come up within {self.start_timeout_s:.0f} s "
                                 f"(socket {self.socket_path}, ports {self.ports}): {self._log_tail()}")
            time.sleep(0.02)   # polling an external daemon

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-5:]) or "no output"

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate pcscd and reap it (it removes its socket on a clean exit)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.private:
            for stale in ("pcscd.comm", "pcscd.pid"):
                (self.folder / stale).unlink(missing_ok=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
