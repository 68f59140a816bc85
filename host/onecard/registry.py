"""The one-card registry and mirror: the demo cards and their seeding, a card's
row, the staff flags, the listings for `kiosk host onecard …` and the money
figures the tests add up."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.engine import Connection

from host.schema.bank import bank_journal, property_ledger
from host.schema.estate import households
from host.schema.onecard import onecard_flags, onecard_txns, onecards

ONECARD_LOAD, ONECARD_LOAD_REVERSAL = "onecard_load", "onecard_load_reversal"   # bank journal types
LEDGER_KIND = "onecard"                                                       # property ledger kind


@dataclass(frozen=True)
class DemoOneCard:
    """A demo one-card as the host registers it (the mirror) and as the bench's
    virtual card is personalised (`card_balance`/`card_count`: what the card
    itself holds; they differ from the mirror only for the rolled-back card)."""
    uid: str
    serial: int
    house_no: str
    holder: str
    balance_fen: int
    count: int
    black: bool = False
    card_balance: int | None = None
    card_count: int | None = None
    issued: date = date(2026, 1, 10)
    expiry: date = date(2036, 12, 31)

    @property
    def on_card(self) -> tuple[int, int]:
        return (self.balance_fen if self.card_balance is None else self.card_balance,
                self.count if self.card_count is None else self.card_count)


DEMO_ONECARDS = (
    # funded: pays 2-1-601's current bill, takes loads
    DemoOneCard("B1C20001", 20001, "2-1-601", "王芳", 100_000, 3),
    # black-flagged for unpaid property fees (the flag only, this round)
    DemoOneCard("B1C20002", 20002, "3-2-1202", "李强", 2_000, 1, black=True),
    # its purse was rolled back behind the mirror: the card holds 120.00 after 5
    # transactions, the host knows of a 6th that left 80.00
    DemoOneCard("B1C20003", 20003, "2-2-902", "赵敏", 8_000, 6, card_balance=12_000, card_count=5),
)

_CARD = select(onecards).where(onecards.c.uid == bindparam("uid")).with_for_update()
_HOUSEHOLD = select(households.c.id).where(households.c.house_no == bindparam("house_no"))
_FLAG = insert(onecard_flags)
_MIRROR = update(onecards).where(onecards.c.uid == bindparam("m_uid")) \
    .values(balance_fen=bindparam("balance"), txn_count=bindparam("count"), updated_at=bindparam("at"))


def card(conn: Connection, uid: str) -> Any:
    """The registry row (locked for the transaction where the database can), or None."""
    return conn.execute(_CARD, {"uid": uid}).first()


def set_mirror(conn: Connection, uid: str, balance_fen: int, count: int, at: datetime) -> None:
    conn.execute(_MIRROR, {"m_uid": uid, "balance": balance_fen, "count": count, "at": at})


def flag(conn: Connection, uid: str, kiosk_id: str, at: datetime, reason: str, detail: str) -> None:
    """A card refused at a kiosk, for staff ("please see the property office")."""
    conn.execute(_FLAG, {"uid": uid, "kiosk_id": kiosk_id, "at": at, "reason": reason, "detail": detail[:300]})


def seed_onecards(conn: Connection, cards: tuple[DemoOneCard, ...], today: date) -> int:
    """Register each card not yet known (by UID), its mirror as given. Returns how many were added."""
    known = set(conn.execute(select(onecards.c.uid)).scalars())
    at = datetime.combine(today, time(8, 0))
    added = 0
    for item in cards:
        if item.uid in known:
            continue
        conn.execute(insert(onecards).values(
            uid=item.uid, serial=item.serial, household_id=conn.execute(_HOUSEHOLD, {"house_no": item.house_no})
            .scalar(), house_no=item.house_no, holder=item.holder, card_type="resident", status="active",
            issued=item.issued, expiry=item.expiry, black=item.black, balance_fen=item.balance_fen,
            txn_count=item.count, created_at=at, updated_at=at))
        added += 1
    return added


def list_cards(conn: Connection) -> list[Any]:
    pending = select(func.count()).where(onecard_txns.c.uid == onecards.c.uid,
                                         onecard_txns.c.state == "authorised").scalar_subquery()
    return list(conn.execute(select(onecards.c.uid, onecards.c.serial, onecards.c.house_no, onecards.c.holder,
                                    onecards.c.status, onecards.c.black, onecards.c.balance_fen,
                                    onecards.c.txn_count, pending.label("pending")).order_by(onecards.c.uid)))


def list_flags(conn: Connection) -> list[Any]:
    """The cards refused and not yet cleared by staff, newest first."""
    return list(conn.execute(select(onecard_flags).where(onecard_flags.c.cleared_at.is_(None))
                             .order_by(onecard_flags.c.id.desc())))


def onecard_totals(conn: Connection) -> dict[str, int]:
    """In fen, each key prefixed onecard_: mirror_fen (Σ the mirrors),
    loads_in_flight_fen (loads authorised, the bank debited, not yet confirmed
    nor cancelled), ledger_fen (the property ledger's one-card bill payments),
    bank_net_fen (the bank journal's one-card loads approved − reversed).
    Invariant: bank balances + mirrors + loads in flight + ledger is constant,
    and bank_net_fen moves as mirrors + in flight + ledger do."""
    def total(query: Any) -> int:
        return int(conn.execute(query).scalar_one())
    kind, result, amount = bank_journal.c.type, bank_journal.c.result, bank_journal.c.amount_fen
    return {
        "onecard_mirror_fen": total(select(func.coalesce(func.sum(onecards.c.balance_fen), 0))),
        "onecard_loads_in_flight_fen": total(select(func.coalesce(func.sum(onecard_txns.c.amount_fen), 0)).where(
            onecard_txns.c.kind == "load", onecard_txns.c.state == "authorised")),
        "onecard_ledger_fen": total(select(func.coalesce(func.sum(property_ledger.c.amount_fen), 0)).where(
            property_ledger.c.kind == LEDGER_KIND)),
        "onecard_bank_net_fen": total(select(func.coalesce(func.sum(case(
            ((kind == ONECARD_LOAD) & (result == "approved"), amount),
            ((kind == ONECARD_LOAD_REVERSAL) & (result == "reversed"), -amount), else_=0)), 0))),
    }
