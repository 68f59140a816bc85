"""Staff's view of the one-cards, for `kiosk host onecard …` (host.cli): the
registry with each mirror, and the cards refused at a kiosk and flagged
("please see the property office"), newest first, and clearing a flag once
the office has dealt with the card. The console's page
(host/console/onecard_flags.py) shows the same table and clears with the
same function."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from host.db import write_transaction
from host.onecard.registry import list_cards, list_flags
from host.schema.onecard import onecard_flags, onecards

ACTIONS = ("list", "flags")


@dataclass(frozen=True)
class FlaggedCard:
    """A flag not yet cleared, with the card's registry line: what staff see."""
    id: int
    uid: str
    kiosk_id: str
    at: datetime
    reason: str
    detail: str                      # what the card said against the mirror (present.py)
    house_no: str
    holder: str
    mirror_fen: int | None           # the mirror now (None: a UID the registry does not know)
    mirror_count: int | None
    card_fen: int | None = None      # what the card said (a mirror mismatch's detail), else None
    card_count: int | None = None


# present.py's mismatch detail starts "card <fen> fen after <count>, mirror …" (fields.card_text)
_CARD_SAID = re.compile(r"^card (\d+) fen after (\d+),")


def flagged_cards(conn: Connection) -> list[FlaggedCard]:
    """list_flags, each with its card's house, holder and mirror, newest first."""
    cards = {r.uid: r for r in conn.execute(select(onecards.c.uid, onecards.c.house_no, onecards.c.holder,
                                                   onecards.c.balance_fen, onecards.c.txn_count))}
    out = []
    for f in list_flags(conn):
        c = cards.get(f.uid)
        said = _CARD_SAID.match(f.detail) if f.reason == "mirror_mismatch" else None
        out.append(FlaggedCard(f.id, f.uid, f.kiosk_id, f.at, f.reason, f.detail,
                               (c.house_no or "") if c else "", c.holder if c else "",
                               c.balance_fen if c else None, c.txn_count if c else None,
                               int(said[1]) if said else None, int(said[2]) if said else None))
    return out


def clear_flag(engine: Engine, flag_id: int, at: datetime) -> FlaggedCard | None:
    """Mark a flag cleared (the office dealt with the card); None if there is no
    such flag or it was cleared already. The card itself is untouched: if its
    purse still disagrees with the mirror, its next presentation flags it again."""
    with write_transaction(engine) as conn:
        shown = {f.id: f for f in flagged_cards(conn)}.get(flag_id)
        if shown is None:
            return None
        done = conn.execute(update(onecard_flags).where(onecard_flags.c.id == flag_id,
                                                        onecard_flags.c.cleared_at.is_(None))
                            .values(cleared_at=at))
        return shown if done.rowcount == 1 else None


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def onecard_action(engine: Engine, action: str, out: Callable[[str], None]) -> int:
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    with engine.connect() as conn:
        if action == "list":
            cards = list_cards(conn)
            out(f"{'uid':8}  {'serial':>8}  {'house':10}  {'status':8}  {'black':5}  {'mirror':>10}  "
                f"{'count':>5}  {'pending':>7}  holder")
            for c in cards:
                out(f"{c.uid:8}  {c.serial:>8}  {c.house_no or '':10}  {c.status:8}  {'yes' if c.black else 'no':5}  "
                    f"{_yuan(c.balance_fen):>10}  {c.txn_count:>5}  {c.pending:>7}  {c.holder}")
            out(f"{len(cards)} one-cards")
            return 0
        flags = list_flags(conn)
    out(f"{'at':19}  {'uid':8}  {'kiosk':16}  {'reason':16}  detail")
    for f in flags:
        out(f"{f.at:%Y-%m-%d %H:%M:%S}  {f.uid:8}  {f.kiosk_id:16}  {f.reason:16}  {f.detail}")
    out(f"{len(flags)} one-cards flagged for staff")
    return 0
