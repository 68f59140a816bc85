"""The console's page of the one-cards flagged for staff (docs/console.md
"One-card flags"): cards a kiosk refused with "please see the property
office" — the purse disagreed with the host's mirror, or the auth code,
issuance or purse were refused — with the card (UID masked as the transaction
search masks serials), house, what the card said against the mirror, the
mirror now, when and at which kiosk. Viewer or above sees it; an operator
clears a flag once the office has dealt with the card (audited, CSRF as
every form; the same function as host.onecard.staff)."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from host.console.transactions import mask_serial
from host.console.web import Console, Staff, guarded
from host.onecard.staff import FlaggedCard, clear_flag, flagged_cards


def _flags(console: Console) -> list[FlaggedCard]:
    with console.engine.connect() as conn:
        return flagged_cards(conn)


def onecard_flag_routes(console: Console) -> list[BaseRoute]:
    async def page(request: Request, staff: Staff, status: int = 200, **shown: Any) -> Response:
        flags = await console.in_thread(_flags, console)
        return console.render("onecard_flags.html", request, status, staff=staff, flags=flags, mask=mask_serial,
                              cleared=shown.get("cleared"))

    @guarded(console)
    async def flags_page(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        return await page(request, staff)

    @guarded(console, "operator")
    async def clear(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        raw = request.path_params["flag_id"]
        if not raw.isdigit() or len(raw) > 18:
            return console.error(request, staff, 400, "error.bad_input", detail="flag")
        done = await console.in_thread(clear_flag, console.engine, int(raw), console.clock.now())
        if done is None:                      # unknown, or cleared meanwhile by someone else
            return console.error(request, staff, 404, "error.not_found")
        await console.in_thread(console.audit.record, "onecard_flag_cleared", username=staff.user.username,
                                role=staff.user.role, target=mask_serial(done.uid), ip=staff.ip,
                                detail={"flag": done.id, "uid": done.uid, "reason": done.reason,
                                        "house": done.house_no})
        return await page(request, staff, cleared=done)

    return [Route("/onecard-flags", flags_page, methods=["GET"]),
            Route("/onecard-flags/{flag_id}/clear", clear, methods=["POST"])]
