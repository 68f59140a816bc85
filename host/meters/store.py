"""The estate's prepaid meters and their user cards: seeding, look-ups, the
year's purchases (for the tiers), and the card's state changes (lost,
reissued: the new card carries the last purchase count)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, func, insert, literal, select, update
from sqlalchemy.engine import Connection

from common.meter_card import Purchase, Utility
from common.meter_keys import MeterKeys, sign_purchase
from host.schema.estate import households
from host.schema.cards import card_txns
from host.schema.meters import SOLD, WALLET_PREFIX, meter_sales, prepaid_meters

# The demo's prepaid meters (one per utility and a second electricity meter),
# matching the bench's virtual meter cards: CARDS-examples.md's meter first.
DEMO_METERS = (
    ("310100012345", "electricity", "1-1-101"),
    ("310100012346", "electricity", "1-1-102"),
    ("320100054321", "water", "1-1-101"),
    ("330100067890", "gas", "1-1-101"),
)
PENDING = ("paid", "written")               # paid, not yet confirmed on the card

_METER = select(prepaid_meters, households.c.house_no).join(households) \
    .where(prepaid_meters.c.meter_no == bindparam("meter")).with_for_update(of=prepaid_meters)


class UnknownMeter(LookupError):
    """No prepaid meter with that number on this estate."""


def meter(conn: Connection, number: str) -> Any:
    """The meter's row with its house_no (locked where the database can), or None."""
    return conn.execute(_METER, {"meter": number}).first()


def seed_meters(conn: Connection, hoarding: dict[str, int], at: datetime,
                meters: tuple[tuple[str, str, str], ...] = DEMO_METERS) -> int:
    """Register each meter not yet known whose household exists; returns how many."""
    known = set(conn.execute(select(prepaid_meters.c.meter_no)).scalars())
    added = 0
    for number, utility, house_no in meters:
        household = conn.execute(select(households.c.id).where(households.c.house_no == house_no)).scalar()
        if number in known or household is None:
            continue
        conn.execute(insert(prepaid_meters).values(
            meter_no=number, utility=utility, household_id=household, hoarding_max=hoarding[utility],
            card_state="active", last_count=0, last_total=0, updated_at=at))
        added += 1
    return added


def bought_this_year(conn: Connection, number: str, year: int) -> int:
    """What the meter has bought in `year` (0.01 units), for its tiers."""
    return int(conn.execute(select(func.coalesce(func.sum(meter_sales.c.quantity), 0)).where(
        meter_sales.c.meter_no == number, meter_sales.c.year == year,
        meter_sales.c.state.in_(SOLD))).scalar_one())


def pending_sale(conn: Connection, number: str) -> Any:
    """The meter's sale paid and not yet confirmed on the card, or None (one at most)."""
    return conn.execute(select(meter_sales).where(meter_sales.c.meter_no == number,
                                                  meter_sales.c.state.in_(PENDING))
                        .with_for_update()).first()


def wallet_purchase(conn: Connection, txn_id: str) -> Any:
    """A completed wallet purchase (card_txns row), or None."""
    return conn.execute(select(card_txns).where(card_txns.c.txn_id == txn_id, card_txns.c.kind == "purchase",
                                                card_txns.c.state == "completed")).first()


def wallet_paying(conn: Connection, number: str, other_than: str) -> bool:
    """Whether a wallet purchase of another sale of this meter is authorised and
    not yet confirmed or cancelled (the card's debit may be on its way)."""
    sale_ids = select(literal(WALLET_PREFIX, String) + meter_sales.c.sale_id).where(
        meter_sales.c.meter_no == number, meter_sales.c.sale_id != other_than)
    return conn.execute(select(card_txns.c.id).where(card_txns.c.kind == "purchase", card_txns.c.state == "authorised",
                                                     card_txns.c.periods.in_(sale_ids))).first() is not None


def set_card_state(conn: Connection, number: str, state: str, at: datetime) -> None:
    conn.execute(update(prepaid_meters).where(prepaid_meters.c.meter_no == number)
                 .values(card_state=state, updated_at=at))


@dataclass(frozen=True, slots=True)
class Reissue:
    meter: str
    image: Purchase          # the new card's EF 01 (blank when nothing was ever sold)


def reissue(conn: Connection, number: str, masters: MeterKeys, at: datetime) -> Reissue:
    """A new user card for a lost one: its EF 01 carries the last purchase count
    (and total) signed under the meter's PK, its EF 02 stays blank, so it sells
    nothing until the meter has written EF 02 once. Refused (ValueError) while a
    sale awaits its write: resolve that first."""
    row = meter(conn, number)
    if row is None:
        raise UnknownMeter(number)
    if pending_sale(conn, number) is not None:
        raise ValueError(f"meter {number} has a sale awaiting its write: resolve it first")
    if row.last_count == 0 and row.last_total == 0:
        image = Purchase.blank_file()
    else:
        last = conn.execute(select(meter_sales.c.quantity).where(
            meter_sales.c.meter_no == number, meter_sales.c.count == row.last_count,
            meter_sales.c.state == "confirmed").order_by(meter_sales.c.id.desc())).scalar()
        image = sign_purchase(masters.for_meter(number).pk, Purchase(
            number, Utility.named(row.utility), row.last_count, int(last or 0), row.last_total))
    set_card_state(conn, number, "reissued", at)
    return Reissue(number, image)
