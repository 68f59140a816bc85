"""A private Xvfb display for the UI tests when none is set."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

SCREEN = "2400x2000x24"   # room for 1920x1080 plus the 400 px bench, and portrait 1080x1920


def _free_display() -> int:
    for number in range(90, 200):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise RuntimeError("no free X display number in :90..:199")


def start_xvfb(timeout_s: float = 10.0) -> subprocess.Popen[bytes]:
    if shutil.which("Xvfb") is None:
        raise RuntimeError("Xvfb is not installed (apt-get install xvfb)")
    last_error = ""
    for _attempt in range(3):
        number = _free_display()
        proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", SCREEN, "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        socket = Path(f"/tmp/.X11-unix/X{number}")
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and proc.poll() is None and not socket.exists():
            time.sleep(0.05)
        if proc.poll() is None and socket.exists():
            os.environ["DISPLAY"] = f":{number}"
            return proc
        proc.kill()
        last_error = (proc.communicate()[1] or b"").decode(errors="replace")[-500:]
    raise RuntimeError(f"Xvfb did not start: {last_error}")
