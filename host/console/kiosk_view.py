"""What a kiosk's own page shows: its status in words, its device history,
and the commands sent to it with their results."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine, Row

from host.console.fleet_view import Badge, KioskRow, alert_text, device_name, kiosk_row
from host.console.i18n import duration, money, when
from host.fleet.commands import Command
from host.fleet.registry import Alert, FleetEvent, KioskRecord
from host.fleet.service import Fleet
from host.schema.fleet import fleet_commands

STATUS_LEVEL = {"queued": "muted", "delivered": "warn", "done": "ok", "failed": "bad", "unsupported": "bad",
                "expired": "muted"}


@dataclass(frozen=True, slots=True)
class DeviceLine:
    name: str
    badge: Badge


@dataclass(frozen=True, slots=True)
class KioskPanel:
    row: KioskRow
    never: bool
    last_seen_text: str
    interval_text: str
    uptime_text: str
    in_transaction: bool
    devices: list[DeviceLine]
    today_lines: list[str]
    backlog_lines: list[str]
    last_error: str
    last_error_at: str


DEVICE_LEVEL = {"ok": "ok", "paper_near_end": "warn", "unknown": "muted"}   # fault and paper out: "bad"


def kiosk_panel(record: KioskRecord, t: Callable[..., str], lang: str, now: float, today: date) -> KioskPanel:
    row = kiosk_row(record, t, lang, now, today)
    status = record.status
    devices, today_lines, backlog_lines = [], [], []
    if status is not None:
        for name, device in sorted(status.devices.items()):
            level = DEVICE_LEVEL.get(device.state, "bad")
            label = device_name(name, t)
            text = t(f"device.{device.state}") + (f" — {device.reason}" if device.reason else "")
            devices.append(DeviceLine(label, Badge(text, level)))
        if status.today.day == today.isoformat():
            f = status.today
            today_lines = [t("kiosk.today.approved", n=f.approved_count, amount=money(f.approved_fen)),
                           t("kiosk.today.declined", n=f.declined_count),
                           t("kiosk.today.reversed", n=f.reversed_count, amount=money(f.reversed_fen))]
        else:
            today_lines = [t("kiosk.today.approved", n=0, amount=money(0))]
        b = status.backlog
        backlog_lines = [t("backlog.reversals", n=b.reversals), t("backlog.backups", n=b.backups)]
        if b.reversals and b.oldest_reversal_age_s is not None:
            backlog_lines.append(t("kiosk.backlog.oldest", duration=duration(b.oldest_reversal_age_s, lang)))
    return KioskPanel(
        row=row, never=record.never_seen, last_seen_text=when(record.last_seen, now),
        interval_text=t("kiosk.seconds", n=f"{record.interval_s:g}"),
        uptime_text=duration(status.uptime_s, lang) if status is not None else "—",
        in_transaction=bool(status and status.in_transaction), devices=devices, today_lines=today_lines,
        backlog_lines=backlog_lines, last_error=status.last_error if status is not None else "",
        last_error_at=status.last_error_at if status is not None else "")


@dataclass(frozen=True, slots=True)
class HistoryLine:
    at: float
    at_text: str
    text: str
    detail: str
    level: str


def history_lines(events: list[FleetEvent], t: Callable[..., str], lang: str, now: float) -> list[HistoryLine]:
    lines = []
    for e in events:
        level, detail = "muted", ""
        if e.kind == "online":
            text = t("hist.online.back", away=duration(float(e.detail), lang)) if e.detail else t("hist.online")
            level = "ok"
        elif e.kind == "offline":
            text, level = t("hist.offline", ago=duration(float(e.detail or 0), lang)), "bad"
        elif e.kind == "device":
            text = t("hist.device", device=device_name(e.subject, t), state=t(f"device.{e.state}"))
            detail = e.detail
            level = DEVICE_LEVEL.get(e.state, "bad")
        elif e.kind == "error":
            text, detail, level = t("hist.error"), e.detail, "bad"
        elif e.kind == "service":
            text, level = t(f"hist.service.{e.state}"), "warn" if e.state == "out_of_service" else "ok"
        elif e.kind == "alert":
            text, level = t("hist.alert"), "bad"
            detail = alert_text(Alert(e.kiosk_id, e.state, e.subject, e.at), t)
        elif e.kind == "cleared":
            text, level = t("hist.cleared"), "ok"
            detail = alert_text(Alert(e.kiosk_id, e.state, e.subject, e.at), t)
        elif e.kind == "restart":
            text, level = t("hist.restart", uptime=duration(float(e.detail or 0), lang)), "warn"
        elif e.kind == "version":
            text = t("hist.version", version=e.state)
        else:
            text = e.kind
        lines.append(HistoryLine(e.at, when(e.at, now), text, detail, level))
    return lines


# --- commands -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CommandView:
    id: int
    kiosk_id: str
    name: str
    text: str
    by: str
    at_text: str
    status: str
    status_text: str
    level: str
    result: str
    acked_text: str
    batch: str


def command_view(c: Command, t: Callable[..., str], now: float) -> CommandView:
    return CommandView(c.id, c.kiosk_id, c.name, t(f"cmd.{c.name}"), c.created_by, when(c.created_at, now), c.status,
                       t(f"cmd.status.{c.status}"), STATUS_LEVEL.get(c.status, "muted"), c.result,
                       when(c.acked_at, now) if c.acked_at else "", c.batch or "")


def _command(row: Row[Any]) -> Command:
    r = row
    return Command(r.id, r.kiosk_id, r.token, r.name, json.loads(r.args_json or "{}"), r.batch,
                   r.created_by, r.created_at, r.status, r.delivered_at, r.acked_at, r.result or "")


def recent_commands(engine: Engine, fleet: Fleet, *, kiosk_id: str = "", batch: str = "",
                    limit: int = 50) -> list[Command]:
    """From the table, with the in-memory state of open ones (deliveries are
    written down with the next flush)."""
    stmt = select(fleet_commands)
    if kiosk_id:
        stmt = stmt.where(fleet_commands.c.kiosk_id == kiosk_id)
    if batch:
        stmt = stmt.where(fleet_commands.c.batch == batch)
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(fleet_commands.c.id.desc()).limit(limit)).all()
    live = {c.id: c for c in fleet.commands.all_open()}
    return [live.get(r.id) or _command(r) for r in rows]


def batch_progress(engine: Engine, batch: str) -> tuple[int, int]:
    """(acknowledged, total) of a command sent to every kiosk."""
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).where(fleet_commands.c.batch == batch)).scalar_one()
        acked = conn.execute(select(func.count()).where(fleet_commands.c.batch == batch,
                                                        fleet_commands.c.acked_at.is_not(None))).scalar_one()
    return int(acked), int(total)
