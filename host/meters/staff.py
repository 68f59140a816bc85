"""The staff's prepaid meter commands (`kiosk host meter …`, and the console's
meter page, host/console/meters_view.py): list the meters, report a user card
lost, reissue it. Both call `report_lost` and `reissue_card`."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from common.meter_card import MeterCardError, check_meter_number, units_text
from host.config import HostSettings
from host.db import write_transaction
from host.meters import store
from host.meters.store import Reissue, UnknownMeter
from host.schema.estate import households
from host.schema.meters import prepaid_meters


def report_lost(engine: Engine, meter: str, at: datetime) -> None:
    """The meter's user card refused at every kiosk from now on (UnknownMeter if none)."""
    with write_transaction(engine) as conn:
        if store.meter(conn, meter) is None:
            raise UnknownMeter(meter)
        store.set_card_state(conn, meter, "lost", at)


def reissue_card(engine: Engine, settings: HostSettings, meter: str, at: datetime) -> Reissue:
    """A new user card's EF 01 (store.reissue). UnknownMeter; ValueError while a
    sale awaits its write; LookupError("no [meters] keys") on a host that vends nothing."""
    if settings.meters is None:
        raise LookupError("this host has no [meters] keys")
    with write_transaction(engine) as conn:
        return store.reissue(conn, meter, settings.meters.keys, at)


def meter_action(engine: Engine, settings: HostSettings, action: str, number: str | None,
                 out: Callable[[str], None], err: Callable[[str], None], *, now: Callable[[], datetime]) -> int:
    if action == "list":
        with engine.connect() as conn:
            rows = conn.execute(select(prepaid_meters, households.c.house_no).join(households)
                                .order_by(prepaid_meters.c.meter_no)).all()
        for row in rows:
            out(f"{row.meter_no}  {row.utility:<11}  {row.house_no:<10}  {row.card_state:<8}  "
                f"count {row.last_count}  max {units_text(row.hoarding_max)}")
        return 0
    try:
        meter = check_meter_number(number or "")
    except MeterCardError:
        err("a meter number is 12 digits")
        return 1
    if settings.meters is None:
        err("this host has no [meters] keys")
        return 2
    try:
        if action == "report-lost":
            report_lost(engine, meter, now())
            out(f"meter {meter}: user card reported lost (refused at every kiosk)")
            return 0
        reissued = reissue_card(engine, settings, meter, now())
    except UnknownMeter:
        err(f"no prepaid meter {meter} on this estate")
        return 1
    except ValueError as exc:
        err(str(exc))
        return 1
    out(f"meter {meter}: new user card; EF 01 = {reissued.image.encode().hex().upper()} (count "
        f"{reissued.image.count}), EF 02 blank: insert it into the meter once before buying")
    return 0
