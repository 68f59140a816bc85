"""Helpers for tests/host/test_worker_faults.py: arming host.faults' points in
a `serve --workers` subprocess, a link exchange that may get no reply (its
worker was killed), and the kiosk's answer to that: the reversal."""
from __future__ import annotations

import time

from pathlib import Path
from typing import Any

from sqlalchemy import select

from host.bank.journal import money_totals
from host.db import make_engine
from host.schema.estate import households
from tests.support.bank8583 import Terminal, pay_bill


def arm(folder: Path, point: str) -> None:
    """The next request to reach `point` ("<scope>.<moment>") kills its worker."""
    (folder / point).touch()


def is_armed(folder: Path, point: str) -> bool:
    return (folder / point).exists()


def pay_or_none(terminal: Terminal, house_no: str, bill: dict[str, Any], card: Any) -> dict[int, Any] | None:
    """A bill payment's reply fields, or None: the connection closed with no
    reply (or was cut), as when the worker holding it dies."""
    try:
        return pay_bill(terminal, house_no, bill, card)
    except (AssertionError, OSError):        # Terminal.exchange: "no reply"; a reset
        return None


def reverse(terminal: Terminal, stan: str, fen: int, timeout_s: float = 20.0) -> str:
    """The kiosk's 0400 for a purchase in doubt (reason 98: no reply), sent
    again until answered 00, as the kiosk does: 39 of the answer. Paced, and
    bounded by time, not by tries: while the database restarts every try is
    answered 96 at once, and fifty tries in a row used to run out before it was back."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            reply = terminal.reversal(stan, fen, reason="98")
        except (AssertionError, OSError):
            time.sleep(0.05)
            continue
        code = reply.message.text(39)
        if code == "00":
            return code
        time.sleep(0.05)
    raise AssertionError(f"the reversal of {stan} was never acknowledged")


class Books:
    """The host's money (host.bank.journal.money_totals) and journal, read from its database."""

    def __init__(self, db_url: str) -> None:
        self.engine = make_engine(db_url)

    def close(self) -> None:
        self.engine.dispose()

    def totals(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return money_totals(conn)

    def query(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def houses(self, count: int) -> list[str]:
        with self.engine.connect() as conn:
            return [r.house_no for r in conn.execute(select(households.c.house_no).order_by(households.c.id)
                                                     .limit(count))]
