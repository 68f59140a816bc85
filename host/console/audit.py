"""The audit log: every staff action, who, when, from where. Append-only;
admins read it on the console."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from host.db import write_transaction
from host.schema.console import staff_audit

ACTIONS = ("sign_in", "sign_in_failed", "sign_out", "command_sent", "export", "user_added", "user_changed",
           "payment_settled", "meter_card_lost", "meter_card_reissued", "onecard_flag_cleared")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    username: str
    role: str
    action: str
    target: str
    detail: str
    ip: str


class AuditLog:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine, self.clock = engine, clock

    def record(self, action: str, *, username: str = "", role: str = "", target: str = "",
               detail: dict[str, Any] | str = "", ip: str = "") -> None:
        """One row in its own short write transaction (host.db.write_transaction:
        never inside, nor holding up, a payment's)."""
        text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False, sort_keys=True)
        with write_transaction(self.engine) as conn:
            conn.execute(insert(staff_audit).values(at=self.clock(), username=username[:64], role=role or None,
                                                    action=action, target=target[:200], detail=text, ip=ip[:64]))

    def page(self, *, action: str = "", username: str = "", limit: int = 100, offset: int = 0
             ) -> tuple[list[AuditEntry], int]:
        query = select(staff_audit)
        count = select(func.count()).select_from(staff_audit)
        if action:
            query, count = query.where(staff_audit.c.action == action), count.where(staff_audit.c.action == action)
        if username:
            query = query.where(staff_audit.c.username == username)
            count = count.where(staff_audit.c.username == username)
        with self.engine.connect() as conn:
            total = int(conn.execute(count).scalar_one())
            rows = conn.execute(query.order_by(staff_audit.c.id.desc()).limit(limit).offset(offset)).all()
        return [AuditEntry(r.id, r.at, r.username or "", r.role or "", r.action, r.target or "", r.detail or "",
                           r.ip or "") for r in rows], total
