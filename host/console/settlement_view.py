"""A kiosk's bank settlements on the console (docs/console.md "Settlement").

The kiosk page reads the bank front-end's own record, `bank_link_settlements`
(what the 0500 said and what the bank's journal held), joined to the kiosk
through its terminal's session (`bank_link_sessions.kiosk_id`). The fleet page's
column and the fleet board's alert come from the kiosk's heartbeat (its last
0510's verdict, host/fleet/model.py `Settlement`): the board is built from the
in-memory registry, for thousands of kiosks, without a query per row."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from host.console.fleet_view import Badge
from host.console.i18n import money
from host.schema.bank import bank_link_sessions, bank_link_settlements


@dataclass(frozen=True, slots=True)
class SettlementView:
    badge: Badge           # balanced | unbalanced (upload awaited / received)
    batch: str
    at_text: str
    lines: list[str]       # debits, credits (if any), the bank's totals when they differ, uploads


def last_settlement(engine: Engine, kiosk_id: str, t: Callable[..., str]) -> SettlementView | None:
    """The front-end's latest settlement of any terminal of `kiosk_id`; None before the first."""
    s = bank_link_settlements
    stmt = (select(s).join(bank_link_sessions, bank_link_sessions.c.terminal_id == s.c.terminal_id)
            .where(bank_link_sessions.c.kiosk_id == kiosk_id).order_by(s.c.at.desc(), s.c.id.desc()).limit(1))
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    balanced = row.result == "balanced"
    lines = [t("settle.debits", n=row.kiosk_debit_count, amount=money(row.kiosk_debit_fen))]
    if not balanced:
        lines.append(t("settle.bank_debits", n=row.bank_debit_count, amount=money(row.bank_debit_fen)))
        lines.append(t("settle.uploaded", n=row.uploaded) if row.uploaded is not None else t("settle.upload_open"))
    badge = Badge(t("settle.balanced"), "ok") if balanced else Badge(t("settle.unbalanced"), "bad")
    return SettlementView(badge, row.batch, _at(row.at), lines)


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}"
