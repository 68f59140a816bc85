"""host.cli: exit codes and messages for people, never a traceback; `serve`
really serves (run as a subprocess, as an operator would)."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.clocks import INSTANTS
from host import cli
from host.billing import period_of, shift_period
from host.config import db_url_from_override
from host.db import make_engine
from host.schema.estate import households, meters, readings
from common.clock import ManualClock
from host.seed import DEMO_HOUSES
from tests.support.host_env import TEST_HOST_TOML, TEST_KIOSK, TEST_TMK, KioskSigner, write_csv
from common.settings import PROJECT_ROOT
from tests.support.databases import BACKENDS, POSTGRESQL, Databases

# the commands on each backend (--db takes a file or a URL); a bad config needs no database
pytestmark = pytest.mark.backends(*BACKENDS)


@pytest.fixture
def db(backend: str, databases: Databases, tmp_path: Path) -> Iterator[str]:
    """--db for a new, empty database of the test's backend: a SQLite file's path, or a PostgreSQL URL."""
    if backend != POSTGRESQL:
        yield str(tmp_path / "cli.sqlite3")
        return
    url = databases.pg.url(databases.pg.create_database("cli"))
    yield url
    databases.release(url)


def test_seed_refuses_a_seeded_database_unless_fresh(host_toml: Path, db: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.seed_demo(host_toml, db, 2000) == 0
    out = capsys.readouterr().out
    assert "seeded 2000 households" in out and "3-2-1202" in out
    assert cli.seed_demo(host_toml, db, 2000) == 1
    captured = capsys.readouterr()
    assert "already holds 2000 households" in captured.err and "--fresh" in captured.err
    assert cli.seed_demo(host_toml, db, 2100, fresh=True) == 0
    assert "seeded 2100 households" in capsys.readouterr().out


@pytest.mark.parametrize("instant", INSTANTS.values(), ids=INSTANTS.keys())
def test_import_prints_problems_by_line_or_the_summary(host_toml: Path, tmp_path: Path, instant: datetime, db: str,
                                                       backend: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Seeded as of the clock's today (the three months before it), then this
    month's readings imported: months derived from the clock, never written."""
    if backend == POSTGRESQL and instant != next(iter(INSTANTS.values())):
        pytest.skip("the months at each awkward instant are the code's arithmetic: one instant on PostgreSQL")
    clock = ManualClock(instant)
    assert cli.seed_demo(host_toml, db, 2000, clock=clock) == 0
    capsys.readouterr()
    this_month = period_of(instant.date())
    last_month = shift_period(this_month, -1)
    last = _last_reading(db, "3-2-1202", "electricity")
    bad = write_csv(tmp_path / "bad.csv", [f"{this_month},3-2-1202,electricity,1.00",
                                           f"{this_month},77-1-101,gas,3.00",
                                           f"{shift_period(this_month, 1)},3-2-1202,gas,1.00"])
    assert cli.import_readings(host_toml, bad, db, clock=clock) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "3 problem(s), nothing imported" in captured.err
    assert (f"line 2: 3-2-1202 electricity reading 1.00 for {this_month} is lower than "
            f"{last_month}'s {last}") in captured.err
    assert "line 3: unknown house 77-1-101" in captured.err
    assert f"line 4: period {shift_period(this_month, 1)} is in the future" in captured.err
    assert "Traceback" not in captured.err

    good = write_csv(tmp_path / "good.csv", [f"{this_month},3-2-1202,electricity,{last + 100}"])
    assert cli.import_readings(host_toml, good, db, clock=clock) == 0
    assert "1 rows, 1 new readings" in capsys.readouterr().out
    assert cli.import_readings(host_toml, tmp_path / "missing.csv", db, clock=clock) == 2
    assert "no such file" in capsys.readouterr().err


def _last_reading(db: str, house: str, utility: str) -> Decimal:
    """The seeded reading of the month before this one (the seed's figures are its own business)."""
    engine = make_engine(db_url_from_override(db))
    try:
        with engine.connect() as conn:
            value_x100 = conn.execute(
                select(readings.c.value_x100).join(meters, meters.c.id == readings.c.meter_id)
                .join(households, households.c.id == meters.c.household_id)
                .where(households.c.house_no == house, meters.c.utility == utility)
                .order_by(readings.c.period.desc()).limit(1)).scalar_one()
            return Decimal(value_x100).scaleb(-2)
    finally:
        engine.dispose()


def test_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(TEST_HOST_TOML.replace("due_days", "due_dayz"), encoding="utf-8")
    assert cli.seed_demo(config, str(tmp_path / "x.sqlite3")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad configuration:") and "billing.due_dayz: unknown key" in err
    assert "Traceback" not in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_runs_in_the_foreground_until_terminated(host_toml: Path, db: str) -> None:
    port = _free_port()   # the config says port 0; --port overrides it
    assert cli.seed_demo(host_toml, db, 2000) == 0
    proc = subprocess.Popen([sys.executable, "-m", "host", "--config", str(host_toml), "--db", db,
                             "serve", "--port", str(port)],
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:              # wait for uvicorn to say it is listening
            if "Uvicorn running on" in line:
                break
        kiosk = KioskSigner(f"http://127.0.0.1:{port}", TEST_KIOSK, TEST_TMK)   # the look-up is signed
        try:
            assert kiosk.sign_on().status == 200
            reply = kiosk.post("/api/v1/households/bill", {"house_no": DEMO_HOUSES["paid_up"]})
        finally:
            kiosk.close()
        assert reply.status == 200 and reply.mac_ok and reply.json["house_no"] == "1-1-101"
    finally:
        proc.send_signal(signal.SIGTERM)      # what `kiosk demo` sends
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert f"host for 翠湖花园 on http://127.0.0.1:{port}" in out
