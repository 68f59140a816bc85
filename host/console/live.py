"""Live updates without reload: one Server-Sent Events stream per open page
(GET /console/events?view=...). The fleet publishes what changed; each stream
renders the fragments its page shows, in its page's language, with the same
templates as the page itself, and the page's script swaps them in.

Events: `alert` / `cleared` (every page: the alert list and a toast), `summary`
and `rows` or `table` (the fleet page), `panel`, `history` and `command` (a
kiosk's page), `command` (the commands page), `bye` (the session ended)."""
from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from host.console import i18n
from host.console.fleet_view import FILTERS, alert_key, alert_view, cleared_text
from host.console.kiosk_view import command_view, history_lines, kiosk_panel, recent_commands
from host.console.web import Console, Staff
from host.fleet.commands import Command
from host.fleet.events import Event
from host.fleet.registry import Alert, FleetEvent

KEEPALIVE_S = 15.0
LIFETIME_S = 600.0       # then the browser reconnects (and the session is checked again)
MAX_ROW_UPDATES = 200    # beyond this, the page re-renders its table instead


def _sse(event: str, data: Any) -> str:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n"


class PageStream:
    """What one open page wants to hear about, and how it reads."""

    def __init__(self, console: Console, request: Request, staff: Staff) -> None:
        self.console, self.request, self.staff = console, request, staff
        self.lang = console.lang(request)
        self.t = i18n.translator(self.lang)
        p = request.query_params
        self.view = p.get("view", "")
        self.kiosk_id = p.get("kiosk", "")
        self.batch = p.get("batch", "")
        self.filter = p.get("filter", "all") if p.get("filter", "all") in FILTERS else "all"
        self.search = p.get("q", "")[:32]
        try:
            self.page_no = int(p.get("page", "1"))
        except ValueError:
            self.page_no = 1
        self._page_ids: list[str] | None = None
        self._row_renderer = console.row_renderer(request)

    @property
    def registry(self) -> Any:
        return self.console.fleet.registry

    def _render(self, template: str, **context: Any) -> str:
        return self.console.render_text(template, self.request, staff=self.staff, **context)

    # --- events -> SSE chunks -------------------------------------------------------
    def handle(self, event: Event) -> list[str]:
        if event.kind == "alert":
            return self._alert(event.data)
        if event.kind == "cleared":
            return self._cleared(event.data)
        if event.kind == "rows":
            changed, seen = event.data
            if self.view == "fleet" and changed:
                return self._fleet(changed)
            if self.view == "kiosk" and self.kiosk_id in (changed | seen):
                return [self._panel()]
            return []
        if event.kind == "command":
            return self._command(event.data)
        if event.kind == "history" and self.view == "kiosk" and event.data.kiosk_id == self.kiosk_id:
            return [self._history([event.data], replace=False)]
        return []

    def _alert(self, alert: Alert) -> list[str]:
        now = self.console.wall()
        view = alert_view(alert, self.t, now)
        html = self._render("_alert.html", alert=view)
        return [_sse("alert", {"key": view.key, "html": html, "toast": view.text, "level": view.level})]

    def _cleared(self, alert: Alert) -> list[str]:
        record = self.registry.records.get(alert.kiosk_id)
        return [_sse("cleared", {"key": alert_key(alert), "toast": cleared_text(alert, record, self.t, self.lang)})]

    def _fleet(self, changed: set[str]) -> list[str]:
        today, now = self.console.today(), self.console.wall()
        page = self._page(now, today)
        chunks = [_sse("summary", {"html": self._render("_summary.html",
                                                        summary=self.console.fleet_index.summary(today))})]
        if page.kiosk_ids != self._page_ids or len(changed) > MAX_ROW_UPDATES:
            self._page_ids = page.kiosk_ids
            chunks.append(_sse("table", {"html": self._render("_fleet_table.html", page=page, filter=self.filter,
                                                              q=self.search)}))
        else:
            rows = {kiosk_id: html for kiosk_id, html in zip(page.kiosk_ids, page.rows) if kiosk_id in changed}
            if rows:
                chunks.append(_sse("rows", {"rows": rows}))
        return chunks

    def _page(self, now: float, today: date) -> Any:
        return self.console.fleet_index.page(self._row_renderer, self.t, self.lang, now, today, filter_=self.filter,
                                             search=self.search, page=self.page_no)

    def _panel(self) -> str:
        record = self.registry.records[self.kiosk_id]
        panel = kiosk_panel(record, self.t, self.lang, self.console.wall(), self.console.today())
        return _sse("panel", {"html": self._render("_kiosk_panel.html", panel=panel, kiosk_id=self.kiosk_id)})

    def _history(self, events: list[FleetEvent], *, replace: bool) -> str:
        """New lines go on top of the kiosk's history; on (re)connect, the whole of it."""
        lines = history_lines(events, self.t, self.lang, self.console.wall())
        return _sse("history", {"html": self._render("_history_lines.html", history=lines), "replace": replace})

    def _command(self, command: Command) -> list[str]:
        wanted = (self.view == "kiosk" and command.kiosk_id == self.kiosk_id) or \
                 (self.view == "commands" and (not self.batch or command.batch == self.batch))
        if not wanted:
            return []
        view = command_view(command, self.t, self.console.wall())
        data: dict[str, Any] = {"id": command.id, "kiosk_id": command.kiosk_id, "status": command.status,
                                "html": self._render("_command_row.html", c=view, show_kiosk=self.view == "commands")}
        if self.view == "kiosk" and command.status in ("done", "failed", "unsupported"):
            data["toast"] = self.t("cmd.toast", kiosk=command.kiosk_id, command=view.text, status=view.status_text)
            data["level"] = view.level
        return [_sse("command", data)]

    async def sync(self) -> list[str]:
        """What the page shows, as of now: it was rendered a moment before this
        stream subscribed (or the stream is reconnecting after a gap), and an event
        published in between would otherwise be missed for good."""
        now, today = self.console.wall(), self.console.today()
        alerts = [alert_view(a, self.t, now) for a in self.registry.active_alerts()[:50]]
        chunks = [_sse("alerts", {"html": "".join(self._render("_alert.html", alert=a) for a in alerts)})]
        if self.view == "fleet":
            page = self._page(now, today)
            self._page_ids = page.kiosk_ids
            chunks.append(_sse("summary", {"html": self._render(
                "_summary.html", summary=self.console.fleet_index.summary(today))}))
            chunks.append(_sse("table", {"html": self._render("_fleet_table.html", page=page, filter=self.filter,
                                                              q=self.search)}))
        elif self.view == "kiosk" and self.kiosk_id in self.registry.records:
            chunks.append(self._panel())
            chunks.append(self._history(await self.console.db(self.console.fleet.history, self.kiosk_id),
                                        replace=True))
            chunks.append(await self._command_rows(kiosk_id=self.kiosk_id, limit=20))
        elif self.view == "commands":
            chunks.append(await self._command_rows(batch=self.batch, limit=200))
        return chunks

    async def _command_rows(self, **query: Any) -> str:
        commands = await self.console.db(recent_commands, self.console.engine, self.console.fleet, **query)
        now, show_kiosk = self.console.wall(), self.view == "commands"
        html = "".join(self._render("_command_row.html", c=command_view(c, self.t, now), show_kiosk=show_kiosk)
                       for c in commands)
        return _sse("commands", {"html": html})

    # --- the stream --------------------------------------------------------------
    async def chunks(self) -> AsyncIterator[str]:
        subscription = self.console.fleet.bus.subscribe()
        try:
            yield "retry: 2000\n\n"
            yield _sse("hello", {"view": self.view})
            for chunk in await self.sync():
                yield chunk
            deadline = time.monotonic() + LIFETIME_S
            while time.monotonic() < deadline:
                event = await subscription.get(KEEPALIVE_S)
                if subscription.dropped:
                    return            # fell behind: the page reconnects and starts afresh
                if event is None:
                    if await self.console.staff(self.request) is None:
                        yield _sse("bye", {})
                        return
                    yield ": keepalive\n\n"
                    continue
                for chunk in self.handle(event):
                    yield chunk
        finally:
            subscription.close()


def event_stream(console: Console, request: Request, staff: Staff) -> StreamingResponse:
    stream = PageStream(console, request, staff)
    return StreamingResponse(stream.chunks(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
