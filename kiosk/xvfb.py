"""A private virtual display for headless runs (the demo tour, UI tests, benchmarks)."""
from __future__ import annotations

import os
import shutil
import subprocess


class Xvfb:
    def __init__(self, width: int = 2000, height: int = 2000) -> None:
        self.size = f"{width}x{height}x24"
        self.display: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        if shutil.which("Xvfb") is None:
            raise RuntimeError("Xvfb is not installed (run `make setup`)")
        read_fd, write_fd = os.pipe()
        # -displayfd: the server picks a free display number and writes it to us
        self._proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", self.size, "-nolisten", "tcp"],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        return self.display

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None


def ensure_display(width: int = 2000, height: int = 2000) -> Xvfb | None:
    """Start a private Xvfb and export DISPLAY unless a display is already set.
    Returns the server to stop later, or None if an existing display is used."""
    if os.environ.get("DISPLAY"):
        return None
    server = Xvfb(width, height)
    os.environ["DISPLAY"] = server.start()
    return server

