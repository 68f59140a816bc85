"""The card registry: seeding from config/test-cards.toml, status changes (each
one a new blacklist version), the blacklist since a version, and the staff
listing."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from host.schema.cards import CARD_STATUSES, card_blacklist, card_txns, ic_cards
from common.demo_cards import DemoIcCard

LISTED = ("lost", "blacklisted")       # statuses a kiosk must refuse

_CARD = select(ic_cards).where(ic_cards.c.serial == bindparam("serial")).with_for_update()
_LAST_VERSION = select(func.coalesce(func.max(card_blacklist.c.version), 0))
_NEW_VERSION = insert(card_blacklist)
_SET_STATUS = update(ic_cards).where(ic_cards.c.serial == bindparam("s_serial")) \
    .values(status=bindparam("status"), list_version=bindparam("version"), updated_at=bindparam("at"))
_CHANGES = select(card_blacklist.c.version, card_blacklist.c.serial, card_blacklist.c.listed) \
    .where(card_blacklist.c.version > bindparam("since")).order_by(card_blacklist.c.version)


class UnknownCard(LookupError):
    """No card with that serial in the registry."""


def card(conn: Connection, serial: str) -> Any:
    """The registry row (locked for the transaction where the database can), or None."""
    return conn.execute(_CARD, {"serial": serial}).first()


def _new_version(conn: Connection, serial: str, status: str, at: datetime) -> int:
    # max + 1 inside the writing transaction: numbers are dense and committed in
    # order (a sequence could commit 5 before 4, and a kiosk holding 5 would miss 4)
    version = int(conn.execute(_LAST_VERSION).scalar_one()) + 1
    conn.execute(_NEW_VERSION, {"version": version, "serial": serial, "listed": status in LISTED,
                                "status": status, "at": at})
    return version


def seed_cards(conn: Connection, cards: tuple[DemoIcCard, ...], at: datetime) -> int:
    """Register each card not yet known (by serial), its balances mirrored as
    issued; a card issued lost or blacklisted gets its blacklist version.
    Returns how many were added."""
    known = set(conn.execute(select(ic_cards.c.serial)).scalars())
    added = 0
    for item in cards:
        if item.serial in known:
            continue
        version = _new_version(conn, item.serial, item.status, at) if item.status in LISTED else 0
        conn.execute(insert(ic_cards).values(
            serial=item.serial, holder=item.holder, status=item.status, ed_fen=item.ed_balance.fen,
            ep_fen=item.ep_balance.fen, list_version=version, created_at=at, updated_at=at))
        added += 1
    return added


def set_status(conn: Connection, serial: str, status: str, at: datetime) -> int | None:
    """Change a card's status: a new blacklist version, returned; None when the
    card already had that status (nothing changes). Raises UnknownCard."""
    if status not in CARD_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CARD_STATUSES)}")
    row = card(conn, serial)
    if row is None:
        raise UnknownCard(serial)
    if row.status == status:
        return None
    version = _new_version(conn, serial, status, at)
    conn.execute(_SET_STATUS, {"s_serial": serial, "status": status, "version": version, "at": at})
    return version


def blacklist_since(conn: Connection, since: int) -> dict[str, Any]:
    """{version, changes: [{serial, listed}]}: each card changed after `since`
    once, with its latest state, in the order of those latest changes."""
    latest: dict[str, tuple[int, bool]] = {}
    for version, serial, listed in conn.execute(_CHANGES, {"since": since}):
        latest.pop(serial, None)         # re-insert: the dict keeps the order of the last change
        latest[serial] = (version, bool(listed))
    return {"version": int(conn.execute(_LAST_VERSION).scalar_one()),
            "changes": [{"serial": serial, "listed": listed} for serial, (_, listed) in latest.items()]}


@dataclass(frozen=True, slots=True)
class CardLine:
    serial: str
    holder: str
    status: str
    ed_fen: int
    ep_fen: int
    list_version: int
    pending: int          # authorised transactions awaiting confirm or cancel


def list_cards(conn: Connection) -> list[CardLine]:
    pending = select(func.count()).where(card_txns.c.serial == ic_cards.c.serial,
                                         card_txns.c.state == "authorised").scalar_subquery()
    rows = conn.execute(select(ic_cards.c.serial, ic_cards.c.holder, ic_cards.c.status, ic_cards.c.ed_fen,
                               ic_cards.c.ep_fen, ic_cards.c.list_version, pending.label("pending"))
                        .order_by(ic_cards.c.serial))
    return [CardLine(*row) for row in rows]
