"""Register households (building/unit rows are created as needed). The demo seed
has its own bulk path; this is for tests and for loading a site's household list."""
from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from host.db import inserted_id
from host.schema.estate import buildings, estates, households, units
from common.house import HouseNumber

_AREA = re.compile(r"^\d{1,5}(\.\d{1,2})?$", re.ASCII)


def _area_x100(text: str) -> int:
    if not _AREA.match(text):
        raise ValueError(f"area {text!r} must be a decimal with at most 2 places")
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def add_households(conn: Connection, estate_name: str, houses: Iterable[tuple[str, str]]) -> dict[str, int]:
    """houses: (house_no, area in m² as text, e.g. "89.50"). Returns house_no -> id."""
    estate_id = conn.execute(select(estates.c.id).where(estates.c.name == estate_name)).scalar()
    if estate_id is None:
        estate_id = inserted_id(conn.execute(insert(estates).values(name=estate_name)))
    ids: dict[str, int] = {}
    for text, area in houses:
        house = HouseNumber.parse(text)
        building_id = conn.execute(select(buildings.c.id).where(
            buildings.c.estate_id == estate_id, buildings.c.number == house.building)).scalar()
        if building_id is None:
            building_id = inserted_id(conn.execute(insert(buildings).values(
                estate_id=estate_id, number=house.building)))
        unit_id = conn.execute(select(units.c.id).where(
            units.c.building_id == building_id, units.c.number == house.unit)).scalar()
        if unit_id is None:
            unit_id = inserted_id(conn.execute(insert(units).values(
                building_id=building_id, number=house.unit)))
        ids[str(house)] = inserted_id(conn.execute(insert(households).values(
            unit_id=unit_id, room=house.room, house_no=str(house),
            area_m2_x100=_area_x100(area))))
    return ids
