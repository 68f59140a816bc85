"""Every benchmark still runs: each benchmarks/bench_*.py once with --quick (tiny
sizes, the same code path), as its own process. A check that it starts, runs
to the end and prints its figures -- never of the figures themselves
(docs/performance.md). A new benchmark is picked up by its file name.

Each run also has to clean up after itself: no process of its own left
running (Xvfb, pcscd, the host, Chromium) and no file left in the temporary
folder it was given (TMPDIR) nor a bench-* folder left in var/."""
from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import pytest

from tests.support.postgres import missing_reason

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))
TIMEOUT_S = 180

# a figure: a number followed by a unit of time or of rate ("1.20 ms", "895/s",
# "4,547 commits/s"); a bare count or a setup time in seconds is not enough
FIGURE = re.compile(r"\d(?:[\d,]*\d)?(?:\.\d+)?\s?(?:ms|µs|[A-Za-z]*/s)\b")

PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37


def test_there_are_benchmarks_and_make_bench_runs_each() -> None:
    assert len(BENCHMARKS) >= 7, BENCHMARKS
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    missing = [b.name for b in BENCHMARKS if f"benchmarks/{b.name}" not in makefile]
    assert not missing, f"`make bench` does not run {missing}"


def _children() -> dict[int, str]:
    """This process's children: pid -> command line."""
    me, found = os.getpid(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
    return found


class Orphans:
    """While active, the processes a benchmark leaves behind (even in sessions
    of their own) become this process's children instead of init's
    (PR_SET_CHILD_SUBREAPER), so they can be found, stopped and reported."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        flag = ctypes.c_int(0)
        self.libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
        self.previous = flag.value
        self.before = _children()

    def __enter__(self) -> Orphans:
        if self.libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        return self

    def __exit__(self, *exc: object) -> None:
        self.libc.prctl(PR_SET_CHILD_SUBREAPER, self.previous, 0, 0, 0)

    def left_running(self, grace_s: float = 5.0) -> dict[int, str]:
        """New children still running after `grace_s` (a browser's helpers may
        take a moment to exit); the ones that exited are reaped."""
        deadline = time.monotonic() + grace_s
        while True:
            new = {pid: cmd for pid, cmd in _children().items() if pid not in self.before}
            for pid in list(new):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:     # exited: reaped
                    del new[pid]
            if not new or time.monotonic() > deadline:
                return new
            time.sleep(0.1)

    @staticmethod
    def stop(pids: dict[int, str]) -> None:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            os.waitpid(pid, 0)


def _bench_folders() -> set[str]:
    var = ROOT / "var"
    return {p.name for p in var.glob("bench-*")} if var.is_dir() else set()


def _read(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode(errors="replace")


def _tail(text: str, chars: int = 4000) -> str:
    return text if len(text) <= chars else "..." + text[-chars:]


@pytest.mark.timeout(TIMEOUT_S + 60)
@pytest.mark.parametrize("bench", BENCHMARKS, ids=[b.stem for b in BENCHMARKS])
def test_benchmark_runs_in_quick_mode(bench: Path) -> None:
    if bench.stem == "bench_fleet_workers" and (reason := missing_reason()) is not None:
        pytest.skip(reason)       # it measures `--workers N` on PostgreSQL only
    # a short path, not tmp_path: Chromium's and pcscd's sockets live under it (108 bytes at most)
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        _run_and_check(bench, Path(folder))


def _run_and_check(bench: Path, tmp: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    env.pop("DISPLAY", None)     # a benchmark that draws starts (and must stop) its own Xvfb
    var_before = _bench_folders()
    started = time.monotonic()
    # output to files, not pipes: a process left behind would hold a pipe open
    # and keep run() waiting for it instead of being found and reported
    with Orphans() as orphans, tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        code: int | None = None
        try:
            code = subprocess.run([sys.executable, str(bench), "--quick"], cwd=ROOT, env=env,
                                  stdout=out_file, stderr=err_file, timeout=TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - started
        strays = orphans.left_running()
        orphans.stop(strays)
        out, err = _read(out_file), _read(err_file)
    report = (f"{bench.name} --quick: exit {code} after {took:.1f} s\n"
              f"--- stdout (tail) ---\n{_tail(out)}\n--- stderr (tail) ---\n{_tail(err)}")
    assert code is not None, f"timed out after {TIMEOUT_S} s\n{report}"
    assert code == 0, report
    assert any(FIGURE.search(line) for line in out.splitlines()), f"no figure printed\n{report}"
    assert not strays, f"left running: {strays}\n{report}"
    leftovers = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))
    assert not leftovers, f"left in its temporary folder: {leftovers[:20]}\n{report}"
    assert _bench_folders() <= var_before, f"left in var/: {sorted(_bench_folders() - var_before)}\n{report}"
