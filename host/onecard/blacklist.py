"""The unpaid-fee blacklist's routes and runs (docs/onecard.md "Unpaid-fee
blacklist"): onecard/blacklist (the changes since a version, as the CPU
card's cards/blacklist), onecard/unblock (the key that clears a card's black
flag, given only once the host no longer lists it), the daily run for the CLI
and serve's start. The rule and the listing are host.unpaid_fees."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection, Engine

from common.clock import Clock
from host.api_spec import Operation, array, describe, enum, integer, nullable, obj, text
from host.bank.security import BadRequest, Context, Message
from host.config import HostSettings
from host.db import retrying, write_transaction
from host.onecard import registry
from host.onecard.fields import KEYS, UID, deliver, uid_field
from host.unpaid_fees import Refresh, blacklist_since, listings, refresh
from common.onecard import DEMO_MAP

CHANGE = obj({"uid": UID, "listed": {"type": "boolean"}, "house_no": nullable(text(16)),
              "since": nullable(text(10, min_len=10)), "amount_fen": nullable(integer())})
BLACKLIST_OP = Operation(
    "The one-card unpaid-fee blacklist's changes since a version (each card once, its latest state: "
    "listed with its house, since when and the property fees owed, or lifted)",
    request=obj({}, {"since": integer()}),
    reply=obj({"version": integer(), "changes": array(CHANGE, 2 ** 31)}))
UNBLOCK_OP = Operation(
    "The key that clears a one-card's black flag (public info key A), only for a card the host no longer lists",
    request=obj({"uid": UID}),
    reply={"anyOf": [obj({"uid": UID, "result": enum("keys"), "keys": KEYS}),
                     obj({"uid": UID, "result": enum("declined"),
                          "code": enum("unknown_onecard", "card_blacklisted")})]})


@describe(BLACKLIST_OP)
def handle_blacklist(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    since = message.body.get("since", 0)
    if not isinstance(since, int) or isinstance(since, bool) or not 0 <= since < 2 ** 63:
        raise BadRequest("since must be a blacklist version, an integer >= 0")
    # versions are Integer columns (32 bits on PostgreSQL, which refuses a larger
    # operand: it was a 500); none lies above 2**31 - 1, so the answer is the same
    return blacklist_since(conn, min(since, 2 ** 31 - 1))


@describe(UNBLOCK_OP)
def handle_unblock(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    uid = uid_field(message.body)
    card = registry.card(conn, uid)
    if card is None:
        return {"uid": uid, "result": "declined", "code": "unknown_onecard"}
    if card.black:
        return {"uid": uid, "result": "declined", "code": "card_blacklisted"}
    # sector 6's key A alone: blocks 24/25 are written with it (access code 000)
    return {"uid": uid, "result": "keys", "keys": deliver(ctx, uid, {DEMO_MAP.public_info: "A"})}


def run_refresh(engine: Engine, settings: HostSettings, clock: Clock) -> Refresh:
    """The daily run (CLI, serve's start): the whole estate as of the clock's day."""
    def once() -> Refresh:
        with write_transaction(engine) as conn:
            return refresh(conn, as_of=clock.today(), unpaid_days=settings.onecard.unpaid_days, at=clock.now())
    return retrying(once)


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def blacklist_action(engine: Engine, settings: HostSettings, clock: Clock, action: str,
                     out: Callable[[str], None]) -> int:
    """`kiosk host onecard blacklist [show | refresh]`."""
    if action == "refresh":
        r = run_refresh(engine, settings, clock)
        out(f"as of {r.as_of} (unpaid more than {r.unpaid_days} days after the due date): {r.households} "
            f"households, {r.cards} one-cards listed; {r.changes} changes, version {r.version}")
        return 0
    if action != "show":
        raise ValueError("action must be show or refresh")
    with engine.connect() as conn:
        rows = listings(conn)
    out(f"{'house':10}  {'since':10}  {'owed':>10}  one-cards")
    for row in rows:
        out(f"{row.house_no:10}  {row.since.isoformat():10}  {_yuan(row.amount_fen):>10}  {' '.join(row.uids) or '-'}")
    out(f"{len(rows)} households listed")
    return 0
