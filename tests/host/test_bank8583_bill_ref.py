"""Field 63 of a purchase, the bill reference, on disk (host.bank.frontend.financial):
one of the kiosk's shape (`H=<house>;P=<months>`) is journaled as sent and the
ledger books the payment by it, even when its digits run together pass for a
card number; any other text holding a card number is refused with 96 and
never reaches the database. Money adds up to the fen."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from host.bank.card_guard import WITHHELD, pan_across, withheld
from host.billing import unpaid_periods
from host.schema.bank import bank_link_journal, property_ledger
from host.schema.estate import households
from tests.support.bank8583 import copy_of, pay_bill
from tests.support.bank8583_env import CARDS, Link, link_fixture
from tests.support.databases import BACKENDS, SQLITE
from tests.support.host_env import GOOD
from tests.support.linked_host import Linked, linked_fixture  # noqa: F401  (the `linked` fixture)

PAN = CARDS["busy"].pan              # a Luhn-valid test card's number
assert len(PAN) in range(16, 20)
CARRYING_A_PAN = [
    PAN,                                           # the number alone
    f"H=3-2-1202;P=2026-11;C={PAN}",               # our shape with the number added
    f"INV {' '.join(PAN[i:i + 4] for i in range(0, len(PAN), 4))}",   # spaced out as on the card
    f"H=3-2-1202;P={PAN[:8]}-{PAN[8:]}",           # split by a dash where a month should be
]


@pytest.fixture(scope="module", params=BACKENDS)
def link(request: pytest.FixtureRequest, databases: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Link]:
    yield from link_fixture(request, databases, tmp_path_factory)   # type: ignore[arg-type]


def _journal_refs(link: Link) -> list[Any]:
    with link.engine.connect() as conn:
        return list(conn.scalars(select(bank_link_journal.c.bill_ref)))


@pytest.mark.parametrize("reference", CARRYING_A_PAN)
def test_a_reference_carrying_a_card_number_is_refused_96_and_nothing_is_stored(link: Link, reference: str) -> None:
    card, terminal = CARDS["busy"], link.terminal()
    before, journaled = link.money(), len(_journal_refs(link))
    reply = terminal.purchase(card.track2, card.pin, card.pan, 100, bill_ref=reference)
    assert reply.message.fields[39] == "96"
    reply.verify_mac(terminal.keys.mak)                          # a refusal of ours, authentic
    assert 37 not in reply.message.fields and 38 not in reply.message.fields
    assert link.money() == before                                # nothing charged
    assert len(_journal_refs(link)) == journaled                 # nothing journaled


def test_another_reference_without_a_card_number_is_stored_as_sent(link: Link) -> None:
    card, terminal = CARDS["busy"], link.terminal()
    reply = terminal.purchase(card.track2, card.pin, card.pan, 100, bill_ref="ORDER 42/2026-11")
    assert reply.message.fields[39] == "00"
    assert "ORDER 42/2026-11" in _journal_refs(link)


def test_no_reference_carrying_a_card_number_is_on_disk(link: Link) -> None:
    if link.backend != SQLITE:
        pytest.skip("the bytes of a SQLite file are searched; PostgreSQL's rows are the same")
    card, terminal = CARDS["busy"], link.terminal()
    for reference in CARRYING_A_PAN:
        assert terminal.purchase(card.track2, card.pin, card.pan, 100, bill_ref=reference).message.fields[39] == "96"
    link.engine.dispose()                                        # the WAL checkpointed into the file
    path = Path(link.url.removeprefix("sqlite:///"))
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for secret in (PAN, PAN[:8] + "-" + PAN[8:], " ".join(PAN[i:i + 4] for i in range(0, len(PAN), 4))):
        assert secret.encode() not in data, secret
        assert secret.encode("utf-16-le") not in data, secret


def _house_whose_reference_looks_like_a_pan(bank: Any) -> tuple[str, dict[str, Any], str]:
    """A seeded household with a bill due whose bill reference's digits, run
    together, pass for a card number (the old guard, `withheld`, withheld it)."""
    with bank.engine.connect() as conn:
        houses = list(conn.scalars(select(households.c.house_no).order_by(households.c.id)))
    for house in houses:
        bill = bank.bill(house)
        if bill["total_due_fen"] <= 0:
            continue
        reference = f"H={house};P={','.join(unpaid_periods(bill))}"
        if pan_across([reference]):
            return house, bill, reference
    raise AssertionError("no seeded household's bill reference looks like a card number")


def test_a_bill_reference_whose_digits_pass_for_a_card_number_is_stored_as_sent_and_booked(
        linked: Linked) -> None:
    bank, _, (terminal, _) = linked
    house, bill, reference = _house_whose_reference_looks_like_a_pan(bank)
    assert withheld(reference) == WITHHELD                       # what the old guard did with it
    before = bank.totals()
    reply = pay_bill(terminal, house, bill, GOOD)
    assert reply[39] == "00"
    rrn = str(reply[37]).strip()
    with bank.engine.connect() as conn:
        stored = conn.execute(select(bank_link_journal.c.bill_ref).where(bank_link_journal.c.rrn == rrn)).scalar_one()
    assert stored == reference
    copy = copy_of(reply, "REF-LOOKS-LIKE-PAN", house, bill["total_due_fen"])
    assert bank.kiosk.backup(copy).json == {"stored": True}
    with bank.engine.connect() as conn:
        booked = conn.execute(select(property_ledger.c.amount_fen, property_ledger.c.periods)
                              .where(property_ledger.c.reference == rrn)).one()
    assert tuple(booked) == (bill["total_due_fen"], ",".join(unpaid_periods(bill)))
    assert bank.bill(house)["total_due_fen"] == 0
    after = bank.totals()
    assert before["bank_balances_fen"] - after["bank_balances_fen"] == bill["total_due_fen"]
    assert after["ledger_fen"] - before["ledger_fen"] == bill["total_due_fen"]
    assert after["journal_net_fen"] == after["ledger_fen"] and after["total_fen"] == before["total_fen"]
