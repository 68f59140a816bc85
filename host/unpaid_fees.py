"""The unpaid-fee rule and its versioned listing (docs/onecard.md "Unpaid-fee
blacklist"): a household whose **property fee** is still unpaid more than N days
after its due date is listed, and every one-card of the household with it.

A leaf beside host.billing (it imports only the tables): billing's pay_bills and
unpay_bills call `recheck_household`, so a payment lifts a listing in the
payment's own transaction (and a reversal restores it), whichever path paid —
bank card, link, CPU card or one-card. host.onecard cannot be that leaf:
host.onecard imports host.billing, and the siblings may not import each other
both ways (import contract no-cycles).

Versions are dense and allocated max + 1 inside the writing transaction, like
the CPU card blacklist's (host.cards.registry), so a kiosk holding version v
never misses v - 1. Each one-card's listing state is (listed, house, since,
amount): a change of any of them is a new version, so a kiosk's reason ("unpaid
since …, the amount") stays current."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from host.schema.estate import bill_lines, bills, households
from host.schema.onecard import onecards
from host.schema.onecard_blacklist import onecard_blacklist, onecard_blacklist_runs, onecard_unpaid

State = tuple[bool, str | None, date | None, int | None]     # listed, house, since, amount
_LIFTED: State = (False, None, None, None)

_LAST_VERSION = select(func.coalesce(func.max(onecard_blacklist.c.version), 0))
_RUN = select(onecard_blacklist_runs).where(onecard_blacklist_runs.c.id == 1)
_CHANGES = select(onecard_blacklist.c.version, onecard_blacklist.c.uid, onecard_blacklist.c.listed,
                  onecard_blacklist.c.house_no, onecard_blacklist.c.since, onecard_blacklist.c.amount_fen) \
    .where(onecard_blacklist.c.version > bindparam("since")).order_by(onecard_blacklist.c.version)


@dataclass(frozen=True, slots=True)
class Refresh:
    as_of: date
    unpaid_days: int
    households: int        # listed after the run
    cards: int             # one-cards listed after the run
    changes: int           # versions this run added
    version: int           # the list's version after the run


def _overdue(conn: Connection, as_of: date, unpaid_days: int,
             household_id: int | None) -> dict[int, tuple[str, date, int]]:
    """{household: (house, since, amount)}: unpaid bills with a property fee
    line due more than `unpaid_days` days before `as_of`."""
    cutoff = as_of - timedelta(days=unpaid_days)      # (as_of - due_on).days > N  <=>  due_on < cutoff
    query = (select(bills.c.household_id, households.c.house_no, func.min(bills.c.due_on),
                    func.sum(bill_lines.c.amount_fen))
             .join(bill_lines, and_(bill_lines.c.bill_id == bills.c.id, bill_lines.c.utility == "property"))
             .join(households, households.c.id == bills.c.household_id)
             .where(bills.c.paid_at.is_(None), bills.c.due_on < cutoff, bill_lines.c.amount_fen > 0)
             .group_by(bills.c.household_id, households.c.house_no))
    if household_id is not None:
        query = query.where(bills.c.household_id == household_id)
    return {hid: (house, since, int(amount)) for hid, house, since, amount in conn.execute(query)}


def _last_states(conn: Connection, uids: list[str]) -> dict[str, State]:
    if not uids:
        return {}
    latest = select(func.max(onecard_blacklist.c.version)).where(onecard_blacklist.c.uid.in_(uids)) \
        .group_by(onecard_blacklist.c.uid)
    rows = conn.execute(select(onecard_blacklist.c.uid, onecard_blacklist.c.listed, onecard_blacklist.c.house_no,
                               onecard_blacklist.c.since, onecard_blacklist.c.amount_fen)
                        .where(onecard_blacklist.c.version.in_(latest)))
    return {uid: (bool(listed), house, since, amount) for uid, listed, house, since, amount in rows}


def _apply(conn: Connection, wanted: dict[int, tuple[str, date, int]], household_id: int | None,
           at: datetime) -> int:
    """Make the listing (households and cards) what `wanted` says, within
    `household_id` (None: the whole estate). Returns the versions added."""
    scope = onecard_unpaid.c.household_id == household_id if household_id is not None else None
    current = {row.household_id: (row.house_no, row.since, row.amount_fen) for row in conn.execute(
        select(onecard_unpaid) if scope is None else select(onecard_unpaid).where(scope))}
    for hid in current.keys() - wanted.keys():
        conn.execute(delete(onecard_unpaid).where(onecard_unpaid.c.household_id == hid))
    for hid, (house, since, amount) in wanted.items():
        if hid not in current:
            conn.execute(insert(onecard_unpaid).values(household_id=hid, house_no=house, since=since,
                                                       amount_fen=amount, listed_at=at))
        elif current[hid] != (house, since, amount):
            conn.execute(update(onecard_unpaid).where(onecard_unpaid.c.household_id == hid)
                         .values(house_no=house, since=since, amount_fen=amount))

    cards_query = select(onecards.c.uid, onecards.c.household_id, onecards.c.black).order_by(onecards.c.uid)
    if household_id is not None:
        cards_query = cards_query.where(onecards.c.household_id == household_id)
    cards = conn.execute(cards_query).all()
    last = _last_states(conn, [c.uid for c in cards])
    version = added = 0
    for uid, hid, black in cards:
        listing = wanted.get(hid) if hid is not None else None
        target: State = (True, *listing) if listing is not None else _LIFTED
        known = last.get(uid, (bool(black), None, None, None))
        if known == target and bool(black) == target[0]:
            continue
        if version == 0:
            conn.execute(select(onecard_blacklist_runs.c.id).where(onecard_blacklist_runs.c.id == 1)
                         .with_for_update())      # one writer of versions at a time (PostgreSQL)
            version = int(conn.execute(_LAST_VERSION).scalar_one())
        version += 1
        added += 1
        conn.execute(insert(onecard_blacklist).values(version=version, uid=uid, listed=target[0], house_no=target[1],
                                                      since=target[2], amount_fen=target[3], at=at))
        if bool(black) != target[0]:
            conn.execute(update(onecards).where(onecards.c.uid == uid).values(black=target[0], updated_at=at))
    return added


def refresh(conn: Connection, *, as_of: date, unpaid_days: int, at: datetime) -> Refresh:
    """The daily run: the whole estate against the rule as of `as_of`; the N it
    used is kept for the payments' re-checks."""
    run = {"unpaid_days": unpaid_days, "as_of": as_of, "at": at}
    if conn.execute(_RUN.with_for_update()).first() is None:
        conn.execute(insert(onecard_blacklist_runs).values(id=1, **run))
    else:
        conn.execute(update(onecard_blacklist_runs).where(onecard_blacklist_runs.c.id == 1).values(**run))
    wanted = _overdue(conn, as_of, unpaid_days, None)
    changes = _apply(conn, wanted, None, at)
    cards = conn.execute(select(func.count()).select_from(onecards).where(onecards.c.black.is_(True))).scalar_one()
    return Refresh(as_of, unpaid_days, len(wanted), int(cards), changes, int(conn.execute(_LAST_VERSION).scalar_one()))


def recheck_household(conn: Connection, household_id: int, at: datetime) -> int:
    """After a household's bills changed (paid, or a payment reversed): its
    listing as of `at`'s day with the last run's N. Nothing before a first run
    (nothing is listed then). Returns the versions added."""
    run = conn.execute(_RUN).first()
    if run is None:
        return 0
    as_of = max(at.date(), run.as_of)      # never judge by a day before the last run's
    return _apply(conn, _overdue(conn, as_of, run.unpaid_days, household_id), household_id, at)


def blacklist_since(conn: Connection, since: int) -> dict[str, Any]:
    """{version, changes: [{uid, listed, house_no, since, amount_fen}]}: each
    card changed after `since` once, with its latest state, in the order of
    those latest changes (the CPU card blacklist's shape)."""
    latest: dict[str, dict[str, Any]] = {}
    for version, uid, listed, house, since_day, amount in conn.execute(_CHANGES, {"since": since}):
        latest.pop(uid, None)            # re-insert: the dict keeps the order of the last change
        latest[uid] = {"uid": uid, "listed": bool(listed), "house_no": house,
                       "since": since_day.isoformat() if since_day is not None else None, "amount_fen": amount}
    return {"version": int(conn.execute(_LAST_VERSION).scalar_one()), "changes": list(latest.values())}


@dataclass(frozen=True, slots=True)
class Listing:
    household_id: int
    house_no: str
    since: date
    amount_fen: int
    listed_at: datetime
    uids: tuple[str, ...]


def listings(conn: Connection) -> list[Listing]:
    """The households listed now with their one-cards, by house number."""
    cards: dict[int, list[str]] = {}
    for uid, hid in conn.execute(select(onecards.c.uid, onecards.c.household_id)
                                 .where(onecards.c.black.is_(True)).order_by(onecards.c.uid)):
        cards.setdefault(hid, []).append(uid)
    rows = conn.execute(select(onecard_unpaid).order_by(onecard_unpaid.c.house_no))
    return [Listing(r.household_id, r.house_no, r.since, int(r.amount_fen), r.listed_at,
                    tuple(cards.get(r.household_id, ()))) for r in rows]


def is_listed(conn: Connection, uid: str) -> bool:
    return bool(conn.execute(select(onecards.c.black).where(onecards.c.uid == uid)).scalar())
