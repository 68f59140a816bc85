"""Staff actions on the card registry, for `kiosk host card ...` (host.cli):
list the cards, report one lost, unblock it. Each status change is a new
blacklist version that kiosks pick up with cards/blacklist."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from host.cards.registry import UnknownCard, list_cards, set_status
from host.db import write_transaction

ACTIONS = ("list", "report-lost", "unblock")
_STATUS = {"report-lost": "lost", "unblock": "active"}


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def card_action(engine: Engine, action: str, serial: str | None, out: Callable[[str], None],
                err: Callable[[str], None], now: Callable[[], datetime]) -> int:
    """0 done; 1 an unknown card or a missing serial (the reason goes to `err`)."""
    if action == "list":
        with engine.connect() as conn:
            lines = list_cards(conn)
        out(f"{'serial':20}  {'status':11}  {'ED':>12}  {'EP':>10}  {'list v':>6}  {'pending':>7}  holder")
        for c in lines:
            out(f"{c.serial:20}  {c.status:11}  {_yuan(c.ed_fen):>12}  {_yuan(c.ep_fen):>10}  "
                f"{c.list_version:>6}  {c.pending:>7}  {c.holder}")
        out(f"{len(lines)} cards")
        return 0
    if action not in _STATUS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    if not serial:
        err(f"{action} needs the card's serial (20 hex digits)")
        return 1
    serial = serial.upper()
    try:
        with write_transaction(engine) as conn:
            version = set_status(conn, serial, _STATUS[action], now())
    except UnknownCard:
        err(f"no card {serial} in the registry")
        return 1
    if version is None:
        out(f"{serial} is already {_STATUS[action]}; nothing changed")
    else:
        out(f"{serial} is now {_STATUS[action]} (blacklist version {version})")
    return 0
