"""The console's pages and forms (docs/console.md lists the URLs and roles)."""
from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path
from collections.abc import Collection
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from host.bank.journal import journal_csv
from host.bank.link_ledger import CannotSettle
from host.bank.link_ledger import settle_from_bank as settle_from_bank_record
from host.db import write_transaction
from host.console import i18n
from host.console.accounts import AccountError
from host.console.audit import ACTIONS
from host.console.fleet_view import FILTERS, alert_view
from host.console.kiosk_view import (
    batch_progress,
    command_view,
    history_lines,
    kiosk_panel,
    recent_commands,
)
from host.console.live import event_stream
from host.console.meters_view import meter_query, meter_routes, meter_sales_context
from host.console.onecard_blacklist import onecard_blacklist_routes
from host.console.onecard_flags import onecard_flag_routes
from host.console.settlement_view import last_settlement
from host.console.signin import signin_routes
from host.console.reconciliation import recent_days, reconcile
from host.console.transactions import (
    STATUSES,
    TxnQuery,
    day_totals,
    rows_csv,
    search,
    totals,
    totals_csv,
)
from host.console.web import (
    PREFIX,
    Console,
    Forbidden,
    Staff,
    guarded,
    wants_json,
)
from host.fleet.model import COMMANDS
from host.schema.console import ROLES

STATIC = Path(__file__).parent / "static"
# ?msg= keys a page may show, with the one parameter each takes: a notice says
# only what the console itself would say (a count, an existing account), so a
# link cannot make the office's page speak its words
MESSAGES: dict[str, str | None] = {"cmd.sent": None, "rec.settled": None, "cmd.sent_all": "n", "users.added": "name",
                                   "users.unlocked": "name"}
_MAX_COUNT = 999_999


def notice(request: Request, allowed: tuple[str, ...], *, names: Collection[str] = ()) -> dict[str, Any]:
    """The page's notice (msg, msg_n, msg_name): a key this page shows with a
    parameter of the right kind — `n` a whole number, `name` one of `names` —
    or no notice at all."""
    query = request.query_params
    key = query.get("msg", "")
    if key not in allowed or key not in MESSAGES:
        return {"msg": "", "msg_n": "", "msg_name": ""}
    kind = MESSAGES[key]
    if kind == "n":
        n = query.get("n", "")
        if not (n.isascii() and n.isdigit() and len(n) <= 6 and 0 < int(n) <= _MAX_COUNT):
            return {"msg": "", "msg_n": "", "msg_name": ""}
        return {"msg": key, "msg_n": int(n), "msg_name": ""}
    if kind == "name":
        name = query.get("name", "")
        if name not in names:
            return {"msg": "", "msg_n": "", "msg_name": ""}
        return {"msg": key, "msg_n": "", "msg_name": name}
    return {"msg": key, "msg_n": "", "msg_name": ""}


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Forbidden("txn.bad_day") from None
    if len(text) != 10:
        raise Forbidden("txn.bad_day")
    return day


def console_routes(console: Console) -> list[BaseRoute]:
    fleet = console.fleet

    # --- fleet ---------------------------------------------------------------------
    def _fleet_context(request: Request) -> dict[str, Any]:
        lang, t, now = console.lang(request), i18n.translator(console.lang(request)), console.wall()
        filter_ = request.query_params.get("filter", "all")
        filter_ = filter_ if filter_ in FILTERS else "all"
        try:
            page_no = int(request.query_params.get("page", "1"))
        except ValueError:
            page_no = 1
        search_text = request.query_params.get("q", "")[:32]
        page = console.fleet_index.page(console.row_renderer(request), t, lang, now, console.today(),
                                        filter_=filter_, search=search_text, page=page_no)
        return {"page": page, "filter": filter_, "filters": FILTERS, "q": search_text,
                "summary": console.fleet_index.summary(console.today()),
                "alerts": [alert_view(a, t, now) for a in fleet.registry.active_alerts()[:50]],
                "commands": COMMANDS, "fleet_size": len(fleet.kiosk_ids)}

    @guarded(console)
    async def fleet_home(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        await fleet.ready()
        shown = notice(request, ("cmd.sent_all",))
        return console.render("fleet.html", request, staff=staff, msg=shown["msg"], msg_n=shown["msg_n"],
                              **_fleet_context(request))

    @guarded(console)
    async def fleet_table(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        return HTMLResponse(console.render_text("_fleet_table.html", request, staff=staff, **_fleet_context(request)))

    # --- one kiosk -----------------------------------------------------------------
    def _kiosk_or_404(request: Request) -> str | None:
        kiosk_id = request.path_params["kiosk_id"]
        return kiosk_id if kiosk_id in fleet.registry.records else None

    def _panel(request: Request, kiosk_id: str) -> Any:
        lang = console.lang(request)
        return kiosk_panel(fleet.registry.records[kiosk_id], i18n.translator(lang), lang, console.wall(),
                           console.today())

    @guarded(console)
    async def kiosk_page(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        await fleet.ready()
        kiosk_id = _kiosk_or_404(request)
        if kiosk_id is None:
            return console.error(request, staff, 404, "error.not_found")
        lang, now = console.lang(request), console.wall()
        t = i18n.translator(lang)
        events = await console.db(fleet.history, kiosk_id)
        commands = await console.db(recent_commands, console.engine, fleet, kiosk_id=kiosk_id, limit=20)
        txns, _ = await console.in_thread(search, console.engine, TxnQuery(kiosk_id=kiosk_id, limit=20))  # may scan
        msg = notice(request, ("cmd.sent",))["msg"]
        settlement = await console.db(last_settlement, console.engine, kiosk_id, t)
        return console.render("kiosk.html", request, staff=staff, kiosk_id=kiosk_id, panel=_panel(request, kiosk_id),
                              settlement=settlement,
                              history=history_lines(events, t, lang, now),
                              commands=[command_view(c, t, now) for c in commands], command_names=COMMANDS,
                              txns=txns, msg=msg)

    @guarded(console)
    async def kiosk_panel_fragment(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        kiosk_id = _kiosk_or_404(request)
        if kiosk_id is None:
            return console.error(request, staff, 404, "error.not_found")
        return HTMLResponse(console.render_text("_kiosk_panel.html", request, staff=staff,
                                                panel=_panel(request, kiosk_id), kiosk_id=kiosk_id))

    # --- commands ------------------------------------------------------------------
    async def _send(request: Request, staff: Staff, kiosk_ids: list[str], name: str) -> list[Any]:
        if name not in COMMANDS:
            raise Forbidden("error.bad_input")
        commands = await fleet.send(kiosk_ids, name, {}, staff.user.username)
        target = kiosk_ids[0] if len(kiosk_ids) == 1 else f"all ({len(kiosk_ids)} kiosks)"
        await console.in_thread(console.audit.record, "command_sent", username=staff.user.username,
                            role=staff.user.role, target=target, ip=staff.ip,
                            detail={"command": name, "ids": [c.id for c in commands][:5],
                                    "count": len(commands), "batch": commands[0].batch if commands else None})
        return commands

    @guarded(console, "operator")
    async def kiosk_command(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        kiosk_id = _kiosk_or_404(request)
        if kiosk_id is None:
            return console.error(request, staff, 404, "error.not_found")
        commands = await _send(request, staff, [kiosk_id], form.get("command", ""))
        if wants_json(request):
            return JSONResponse({"commands": [{"id": c.id, "kiosk_id": c.kiosk_id, "name": c.name,
                                               "status": c.status} for c in commands]})
        return RedirectResponse(f"{PREFIX}/kiosks/{kiosk_id}?msg=cmd.sent", status_code=303)

    @guarded(console, "operator")
    async def fleet_command(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        commands = await _send(request, staff, list(fleet.kiosk_ids), form.get("command", ""))
        batch = commands[0].batch if commands else ""
        if wants_json(request):
            return JSONResponse({"batch": batch, "count": len(commands)})
        return RedirectResponse(f"{PREFIX}/commands?{urlencode({'batch': batch or '', 'msg': 'cmd.sent_all', 'n': len(commands)})}",
                                status_code=303)

    @guarded(console)
    async def commands_page(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        await fleet.ready()
        lang, now = console.lang(request), console.wall()
        t = i18n.translator(lang)
        batch = request.query_params.get("batch", "")[:32]
        commands = await console.db(recent_commands, console.engine, fleet, batch=batch, limit=200)
        progress = await console.db(batch_progress, console.engine, batch) if batch else None
        shown = notice(request, ("cmd.sent_all",))
        return console.render("commands.html", request, staff=staff, batch=batch, progress=progress,
                              commands=[command_view(c, t, now) for c in commands],
                              msg=shown["msg"], msg_n=shown["msg_n"])

    # --- transactions --------------------------------------------------------------
    def _txn_query(request: Request) -> TxnQuery:
        p = request.query_params
        today = console.today()
        day_from = _day(p.get("from")) if "from" in p else today
        day_to = _day(p.get("to")) if "to" in p else today
        status = p.get("status", "")
        return TxnQuery(day_from=day_from, day_to=day_to, house_no=p.get("house", "")[:16].strip(),
                        card=p.get("card", "")[:24], kiosk_id=p.get("kiosk", "")[:32],
                        status=status if status in STATUSES else "")

    @guarded(console)
    async def transactions_page(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        try:
            query = _txn_query(request)
            meters = meter_query(request, query.day_from, query.day_to)    # prepaid meter sales beside them
        except Forbidden as exc:
            return console.error(request, staff, 400, "error.bad_input",
                                 detail=i18n.translator(console.lang(request))(exc.key))
        rows, truncated = await run(search, console.engine, query)
        _, overall = totals(rows)
        return console.render("transactions.html", request, staff=staff, q=query, rows=rows, truncated=truncated,
                              overall=overall, statuses=STATUSES, kiosk_ids=fleet.kiosk_ids,
                              export_query=request.url.query, **await run(meter_sales_context, console, meters))

    async def run(fn: Any, *args: Any) -> Any:
        return await console.in_thread(fn, *args)    # searches scan

    async def exported(staff: Staff, target: str, detail: dict[str, Any], body: str, filename: str) -> Response:
        """A CSV download, audited as an export of `target`."""
        await console.in_thread(console.audit.record, "export", username=staff.user.username, role=staff.user.role,
                                target=target, ip=staff.ip, detail=detail)
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    @guarded(console)
    async def transactions_csv(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        try:
            query = _txn_query(request)
        except Forbidden:
            return console.error(request, staff, 400, "error.bad_input", detail="YYYY-MM-DD")
        rows, _ = await run(search, console.engine, dataclasses.replace(query, limit=100_000))
        return await exported(staff, "transactions.csv", {"query": request.url.query, "rows": len(rows)},
                              rows_csv(rows), f"transactions-{query.day_from or 'all'}-{query.day_to or 'all'}.csv")

    @guarded(console)
    async def day_totals_csv(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        try:
            day = _day(request.query_params.get("day")) or console.today()
        except Forbidden:
            return console.error(request, staff, 400, "error.bad_input", detail="YYYY-MM-DD")
        per_kiosk, overall = await run(day_totals, console.engine, day)
        return await exported(staff, "day-totals.csv", {"day": day.isoformat()},
                              totals_csv(day, per_kiosk, overall), f"day-totals-{day}.csv")

    def _bank_journal(day: date) -> str:
        with console.engine.connect() as conn:
            return journal_csv(conn, day)

    @guarded(console)
    async def bank_journal_csv(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        """The bank journal of a business day (docs/payments.md, "Journal CSV"): signed-in staff only."""
        try:
            day = _day(request.query_params.get("day")) or console.today()
        except Forbidden:
            return console.error(request, staff, 400, "error.bad_input", detail="YYYY-MM-DD")
        body = await run(_bank_journal, day)
        return await exported(staff, "bank-journal.csv", {"day": day.isoformat(), "rows": body.count("\n") - 1},
                              body, f"bank-journal-{day}.csv")

    # --- reconciliation --------------------------------------------------------------
    @guarded(console)
    async def reconciliation_page(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        try:
            day = _day(request.query_params.get("day")) or console.today()
        except Forbidden:
            return console.error(request, staff, 400, "error.bad_input", detail="YYYY-MM-DD")
        result = await run(reconcile, console.engine, day, console.today())
        days = await run(recent_days, console.engine, console.today())
        return console.render("reconciliation.html", request, staff=staff, rec=result, days=days,
                              msg=notice(request, ("rec.settled",))["msg"])

    @guarded(console, "operator")
    async def settle_from_bank(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        """A payment the bank approved that the ledger lacks (its copy never
        came, or no longer matched the bills): booked from the bank's record."""
        rrn, day = form.get("rrn", "").strip(), form.get("day", "")
        try:
            shown_day = _day(day) or console.today()
        except Forbidden:
            return console.error(request, staff, 400, "error.bad_input", detail="YYYY-MM-DD")
        if not (rrn.isascii() and rrn.isalnum() and 0 < len(rrn) <= 12):
            return console.error(request, staff, 400, "error.bad_input", detail="rrn")
        now = console.clock.now()
        try:
            booked = await console.in_thread(_book_from_bank, rrn, now)
        except CannotSettle as exc:
            return console.error(request, staff, 409, f"rec.settle.{exc.reason}")
        await console.in_thread(console.audit.record, "payment_settled", username=staff.user.username,
                                role=staff.user.role, target=rrn, ip=staff.ip, detail=booked)
        return RedirectResponse(f"{PREFIX}/reconciliation?{urlencode({'day': shown_day.isoformat(), 'msg': 'rec.settled'})}",
                                status_code=303)

    def _book_from_bank(rrn: str, now: datetime) -> dict[str, object]:
        with write_transaction(console.engine) as conn:
            return settle_from_bank_record(conn, rrn, now=now)

    # --- admin -----------------------------------------------------------------------
    @guarded(console, "admin")
    async def audit_page(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        action = request.query_params.get("action", "")
        action = action if action in ACTIONS else ""
        try:
            page_no = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page_no = 1
        entries, total = await console.db(console.audit.page, action=action, limit=100, offset=(page_no - 1) * 100)
        return console.render("audit.html", request, staff=staff, entries=entries, total=total, action=action,
                              actions=ACTIONS, page_no=page_no, pages=max(1, -(-total // 100)))

    @guarded(console, "admin")
    async def users_page(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        return await _users(request, staff)

    async def _users(request: Request, staff: Staff, status: int = 200, error: str = "",
                     form: dict[str, str] | None = None) -> Response:
        users = await console.db(console.accounts.all)
        shown = notice(request, ("users.added", "users.unlocked"), names={u.username for u in users})
        return console.render("users.html", request, status, staff=staff, users=users, roles=ROLES, error=error,
                              form=form or {}, now=console.wall(), msg=shown["msg"], msg_name=shown["msg_name"])

    @guarded(console, "admin")
    async def add_user(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        try:
            user = await console.hashing(console.accounts.add, form.get("username", ""), form.get("password", ""),
                                       form.get("role", ""), display_name=form.get("display_name", ""),
                                       by=staff.user.username)
        except AccountError as exc:
            return await _users(request, staff, 400, str(exc), {k: v for k, v in form.items() if k != "password"})
        await console.in_thread(console.audit.record, "user_added", username=staff.user.username, role=staff.user.role,
                            target=user.username, ip=staff.ip, detail={"role": user.role})
        return RedirectResponse(f"{PREFIX}/users?{urlencode({'msg': 'users.added', 'name': user.username})}",
                                status_code=303)

    @guarded(console, "admin")
    async def unlock_user(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        name = request.path_params["username"]
        try:
            await console.in_thread(console.accounts.unlock, name)
        except AccountError:
            return console.error(request, staff, 404, "error.not_found")
        await console.in_thread(console.audit.record, "user_changed", username=staff.user.username, role=staff.user.role,
                            target=name, ip=staff.ip, detail={"change": "unlocked"})
        return RedirectResponse(f"{PREFIX}/users?{urlencode({'msg': 'users.unlocked', 'name': name})}",
                                status_code=303)

    # --- live -------------------------------------------------------------------------
    @guarded(console)
    async def events(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        await fleet.ready()
        return event_stream(console, request, staff)

    return [
        *signin_routes(console),
        Route("/", fleet_home, methods=["GET"]),
        Route("/fleet/table", fleet_table, methods=["GET"]),
        Route("/kiosks/{kiosk_id}", kiosk_page, methods=["GET"]),
        Route("/kiosks/{kiosk_id}/panel", kiosk_panel_fragment, methods=["GET"]),
        Route("/kiosks/{kiosk_id}/commands", kiosk_command, methods=["POST"]),
        Route("/commands", commands_page, methods=["GET"]),
        Route("/commands", fleet_command, methods=["POST"]),
        Route("/transactions", transactions_page, methods=["GET"]),
        Route("/transactions.csv", transactions_csv, methods=["GET"]),
        Route("/day-totals.csv", day_totals_csv, methods=["GET"]),
        Route("/bank-journal.csv", bank_journal_csv, methods=["GET"]),
        Route("/reconciliation", reconciliation_page, methods=["GET"]),
        *onecard_blacklist_routes(console),     # the one-card unpaid-fee blacklist
        *onecard_flag_routes(console),          # one-cards flagged for the property office
        *meter_routes(console, _day),           # prepaid meters: cards lost / reissued, sales CSV
        Route("/reconciliation/settle", settle_from_bank, methods=["POST"]),
        Route("/audit", audit_page, methods=["GET"]),
        Route("/users", users_page, methods=["GET"]),
        Route("/users", add_user, methods=["POST"]),
        Route("/users/{username}/unlock", unlock_user, methods=["POST"]),
        Route("/events", events, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
