"""Helpers shared by the host tests (imported by name: tests/host is on sys.path)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from host.db import metadata

SEED_TODAY = date(2026, 11, 21)   # "today" of the shared seeded estate

TEST_HOST_TOML = """
[host]
estate_name = "翠湖花园"
listen_port = 0

[billing]
due_days = 30

[late_fee]
daily_rate = "0.0005"

[tariffs.water]
tiers = [{up_to = 15, price = "5.00"}, {up_to = 22, price = "7.00"}, {price = "9.00"}]

[tariffs.electricity]
tiers = [{up_to = 180, price = "0.4883"}, {up_to = 350, price = "0.5383"}, {price = "0.7883"}]

[tariffs.gas]
tiers = [{price = "2.63"}]

[tariffs.property]
price_per_m2 = "2.50"
"""


def write_csv(path: Path, lines: list[str], header: str = "period,house_no,utility,reading") -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every host table: to prove a refused import changed nothing."""
    with engine.connect() as conn:
        return {t.name: sorted(conn.execute(select(t)).all(), key=repr) for t in metadata.sorted_tables}
