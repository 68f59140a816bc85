"""The host's database outlives releases: create_tables on an existing database
adds what a newer release needs (missing tables and indexes) and keeps its rows."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from host.db import make_engine
from host.schema import create_tables


def test_an_existing_database_gets_the_new_indexes_and_keeps_its_rows(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'host.db'}")
    create_tables(engine)
    with engine.begin() as conn:       # a database from before the business-day indexes
        conn.execute(text("DROP INDEX ix_bank_txns_day"))
        conn.execute(text("DROP INDEX ix_card_txns_day"))
        conn.execute(text("INSERT INTO estates (id, name) VALUES (1, 'old estate')"))
    assert "ix_bank_txns_day" not in {i["name"] for i in inspect(engine).get_indexes("bank_txns")}

    create_tables(engine)
    create_tables(engine)              # and again: nothing left to add, no error

    found = inspect(engine)
    assert "ix_bank_txns_day" in {i["name"] for i in found.get_indexes("bank_txns")}
    assert "ix_card_txns_day" in {i["name"] for i in found.get_indexes("card_txns")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM estates")).scalars().all() == ["old estate"]
