"""The console's prepaid meter page and the meter sales beside the transaction
search (docs/console.md "Prepaid meters"): the estate's meters with their user
card's state, "report lost" and "reissue" (operator or above, audited, CSRF as
every form; the same functions as `kiosk host meter`), and the sales' CSV."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from host.console.meter_sales import (
    BadMeterNumber,
    MeterSaleQuery,
    meter_filter,
    sales_csv,
    search_sales,
    units,
    utility_totals,
)
from host.console.web import Console, Forbidden, Staff, guarded
from host.meters.staff import reissue_card, report_lost
from host.meters.store import UnknownMeter
from host.schema.estate import households
from host.schema.meters import prepaid_meters


def meter_query(request: Request, day_from: date | None, day_to: date | None) -> MeterSaleQuery:
    """The transaction search's days, house and kiosk, and its meter number (Forbidden if not 12 digits)."""
    p = request.query_params
    try:
        meter = meter_filter(p.get("meter", "")[:24])
    except BadMeterNumber:
        raise Forbidden("meter.bad_number") from None
    return MeterSaleQuery(day_from=day_from, day_to=day_to, meter_no=meter, house_no=p.get("house", "")[:16].strip(),
                          kiosk_id=p.get("kiosk", "")[:32])


def meter_sales_context(console: Console, query: MeterSaleQuery) -> dict[str, Any]:
    """What transactions.html shows of meter sales: the rows and the totals by utility."""
    rows, truncated = search_sales(console.engine, query)
    return {"mq": query, "meter_rows": rows, "meter_truncated": truncated,
            "meter_totals": utility_totals(console.engine, query), "units": units}


def _meters(console: Console) -> list[Any]:
    with console.engine.connect() as conn:
        return list(conn.execute(select(prepaid_meters, households.c.house_no).join(households)
                                 .order_by(prepaid_meters.c.meter_no)))


def meter_routes(console: Console, day: Any) -> list[BaseRoute]:
    """`day`: the console's strict YYYY-MM-DD parser (pages._day)."""

    async def page(request: Request, staff: Staff, status: int = 200, **shown: Any) -> Response:
        meters = await console.in_thread(_meters, console)
        return console.render("meters.html", request, status, staff=staff, meters=meters, units=units,
                              vending=console.settings.meters is not None,
                              done=shown.get("done", ""), meter=shown.get("meter", ""),
                              image=shown.get("image", ""), count=shown.get("count", 0),
                              error=shown.get("error", ""))

    @guarded(console)
    async def meters_page(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        return await page(request, staff)

    def _number(request: Request) -> str | None:
        try:
            return meter_filter(request.path_params["meter_no"]) or None
        except BadMeterNumber:
            return None

    async def audited(staff: Staff, action: str, meter: str, detail: dict[str, Any]) -> None:
        await console.in_thread(console.audit.record, action, username=staff.user.username, role=staff.user.role,
                                target=meter, ip=staff.ip, detail=detail)

    @guarded(console, "operator")
    async def lost(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        meter = _number(request)
        if meter is None:
            return console.error(request, staff, 400, "error.bad_input", detail="meter")
        try:
            await console.in_thread(report_lost, console.engine, meter, console.clock.now())
        except UnknownMeter:
            return console.error(request, staff, 404, "error.not_found")
        await audited(staff, "meter_card_lost", meter, {})
        return await page(request, staff, done="lost", meter=meter)

    @guarded(console, "operator")
    async def reissue(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        meter = _number(request)
        if meter is None:
            return console.error(request, staff, 400, "error.bad_input", detail="meter")
        if console.settings.meters is None:
            return console.error(request, staff, 409, "meter.off")
        try:
            made = await console.in_thread(reissue_card, console.engine, console.settings, meter,
                                           console.clock.now())
        except UnknownMeter:
            return console.error(request, staff, 404, "error.not_found")
        except ValueError:      # a sale awaits its write: the card it went to must settle it first
            return await page(request, staff, 409, error="meter.sale_pending", meter=meter)
        image = made.image.encode().hex().upper()
        await audited(staff, "meter_card_reissued", meter, {"count": made.image.count})
        return await page(request, staff, done="reissued", meter=meter, image=image, count=made.image.count)

    @guarded(console)
    async def export(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        p = request.query_params
        try:
            today = console.today()
            day_from = day(p.get("from")) if "from" in p else today
            day_to = day(p.get("to")) if "to" in p else today
            query = meter_query(request, day_from, day_to)
        except Forbidden as exc:
            return console.error(request, staff, 400, "error.bad_input", detail=exc.key)
        query = MeterSaleQuery(query.day_from, query.day_to, query.meter_no, query.house_no, query.kiosk_id,
                               limit=100_000)
        rows, _ = await console.in_thread(search_sales, console.engine, query)
        totals = await console.in_thread(utility_totals, console.engine, query)
        await console.in_thread(console.audit.record, "export", username=staff.user.username, role=staff.user.role,
                                target="meter-sales.csv", ip=staff.ip,
                                detail={"query": request.url.query, "rows": len(rows)})
        name = f"meter-sales-{query.day_from or 'all'}-{query.day_to or 'all'}.csv"
        return Response(sales_csv(rows, totals), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return [Route("/meters", meters_page, methods=["GET"]),
            Route("/meters/{meter_no}/report-lost", lost, methods=["POST"]),
            Route("/meters/{meter_no}/reissue", reissue, methods=["POST"]),
            Route("/meter-sales.csv", export, methods=["GET"])]
