"""Staff's view of the one-cards, for `kiosk host onecard …` (host.cli): the
registry with each mirror, and the cards refused at a kiosk and flagged
("please see the property office"), newest first. The console page is the
next round's; this is the table it will show."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from host.onecard.registry import list_cards, list_flags

ACTIONS = ("list", "flags")


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
