"""`kiosk host serve --workers 2` on PostgreSQL (issue 12, deliverable 2): the
workers share one port and one bank port, and what one process kept in
memory (counters, fleet state, commands, live events, keys) holds across them.
One host for the module (tests/support/workers.py); each test finds replies
from both workers by opening new connections until the other one answers."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.settings import PROJECT_ROOT
from tests.support.databases import POSTGRESQL, Databases
from tests.support import workers
from tests.support.workers import WorkersHost


@pytest.fixture(scope="module")
def host(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkersHost]:
    folder = tmp_path_factory.mktemp("workers")
    toml = folder / "seed.toml"
    toml.write_text(workers.workers_toml(0, 0), encoding="utf-8")
    db_url = databases.fresh(POSTGRESQL, "workers", lambda url: workers.seed(url, toml), folder)
    started = workers.start(folder, db_url)
    yield started
    code, _, err = started.stop()
    databases.release(db_url)
    assert code == 0, err


def test_two_workers_answer_on_one_port(host: WorkersHost) -> None:
    seen = host.workers()
    assert len(seen) == 2 and {s.split("/")[0] for s in seen} == {"0", "1"}


def test_sqlite_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    toml = tmp_path / "host.toml"
    toml.write_text(workers.workers_toml(workers.free_port(), workers.free_port()), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "host", "--config", str(toml), "--db", str(tmp_path / "h.sqlite3"),
                           "serve", "--workers", "2"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--workers 2 needs PostgreSQL" in done.stderr and "Traceback" not in done.stderr
