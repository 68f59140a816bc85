"""The console's page of the one-card unpaid-fee blacklist (docs/console.md
"One-card blacklist"): the households listed now (house, cards, unpaid since,
the property fees owed) and its CSV for the estate's door-access system (UID,
house number, since when), every cell formula-safe (host.csv_cells). Viewer
or above; the export is audited like every other."""
from __future__ import annotations

import io

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from host import csv_cells
from host.console.web import Console, Staff, guarded
from host.unpaid_fees import Listing, listings

CSV_COLUMNS = ("uid", "house_no", "since")


def _listings(console: Console) -> list[Listing]:
    with console.engine.connect() as conn:
        return listings(conn)


def blacklist_csv(rows: list[Listing]) -> str:
    """One line per listed one-card: what a door controller needs to refuse it."""
    out = io.StringIO()
    writer = csv_cells.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows((uid, r.house_no, r.since.isoformat()) for r in rows for uid in r.uids)
    return out.getvalue()


def onecard_blacklist_routes(console: Console) -> list[BaseRoute]:
    @guarded(console)
    async def page(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        rows = await console.in_thread(_listings, console)
        return console.render("onecard_blacklist.html", request, staff=staff, rows=rows,
                              cards=sum(len(r.uids) for r in rows),
                              unpaid_days=console.settings.onecard.unpaid_days)

    @guarded(console)
    async def export(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        rows = await console.in_thread(_listings, console)
        body = blacklist_csv(rows)
        await console.in_thread(console.audit.record, "export", username=staff.user.username, role=staff.user.role,
                                target="onecard-blacklist.csv", ip=staff.ip,
                                detail={"households": len(rows), "cards": sum(len(r.uids) for r in rows)})
        return Response(body, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="onecard-blacklist-{console.today()}.csv"'})

    return [Route("/onecard-blacklist", page, methods=["GET"]),
            Route("/onecard-blacklist.csv", export, methods=["GET"])]
