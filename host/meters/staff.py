"""The staff's prepaid meter commands (`kiosk host meter …`; the console's
pages come later): list the meters, report a user card lost, reissue it."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from common.meter_card import MeterCardError, check_meter_number
from host.config import HostSettings
from host.db import write_transaction
from host.meters import store
from host.schema.estate import households
from host.schema.meters import prepaid_meters


def meter_action(engine: Engine, settings: HostSettings, action: str, number: str | None,
                 out: Callable[[str], None], err: Callable[[str], None], *, now: Callable[[], datetime]) -> int:
    if action == "list":
        with engine.connect() as conn:
            rows = conn.execute(select(prepaid_meters, households.c.house_no).join(households)
                                .order_by(prepaid_meters.c.meter_no)).all()
        for row in rows:
            out(f"{row.meter_no}  {row.utility:<11}  {row.house_no:<10}  {row.card_state:<8}  "
                f"count {row.last_count}  max {row.hoarding_max / 100:.2f}")
        return 0
    try:
        meter = check_meter_number(number or "")
    except MeterCardError:
        err("a meter number is 12 digits")
        return 1
    if settings.meters is None:
        err("this host has no [meters] keys")
        return 2
    with write_transaction(engine) as conn:
        row = store.meter(conn, meter)
        if row is None:
            err(f"no prepaid meter {meter} on this estate")
            return 1
        if action == "report-lost":
            store.set_card_state(conn, meter, "lost", now())
            out(f"meter {meter}: user card reported lost (refused at every kiosk)")
            return 0
        try:
            reissued = store.reissue(conn, meter, settings.meters.keys, now())
        except ValueError as exc:
            err(str(exc))
            return 1
    out(f"meter {meter}: new user card; EF 01 = {reissued.image.encode().hex().upper()} (count "
        f"{reissued.image.count}), EF 02 blank: insert it into the meter once before buying")
    return 0
