"""What the host's JSON bank routes checked (tests/host/test_bank_payments.py and
test_bank_reversals.py, removed with them in issue 16) and the ISO 8583
front-end's own tests did not: a right PIN after a wrong one starts the count
again; a reversal of a declined purchase moves nothing; a reversal must name
the captured amount. The bill checks (nothing due, bill changed, unknown house)
went with the JSON routes: a bank does not know the bills (docs/bank-link.md)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.bank8583_env import CARDS, Link, link_fixture
from tests.support.databases import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def link(request: pytest.FixtureRequest, databases: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Link]:
    yield from link_fixture(request, databases, tmp_path_factory)   # type: ignore[arg-type]


def test_a_right_pin_after_a_wrong_one_starts_the_count_again(link: Link) -> None:
    card, terminal = CARDS["locks"], link.terminal()
    assert terminal.purchase(card.track2, "000000", card.pan, 100).message.text(39) == "55"
    assert link.pin_tries("locks") == 1
    assert terminal.purchase(card.track2, card.pin, card.pan, 100).message.text(39) == "00"
    assert link.pin_tries("locks") == 0
    assert terminal.purchase(card.track2, "000000", card.pan, 100).message.text(63) == "T=2"   # three tries again


def test_a_reversal_of_a_declined_purchase_moves_nothing(link: Link) -> None:
    card, terminal = CARDS["poor"], link.terminal()
    before, money = link.balance("poor"), link.money()
    stan = terminal.next_stan()
    assert terminal.purchase(card.track2, card.pin, card.pan, 5001, stan=stan).message.text(39) == "51"
    assert terminal.reversal(stan, 5001).message.text(39) == "00"      # acknowledged
    assert link.balance("poor") == before and link.money() == money
    late = terminal.purchase(card.track2, card.pin, card.pan, 100, stan=stan)     # the same STAN again
    assert late.message.text(39) == "94" and link.balance("poor") == before


def test_a_reversal_must_name_the_captured_amount(link: Link) -> None:
    card, terminal = CARDS["reverse"], link.terminal()
    before = link.balance("reverse")
    stan = terminal.next_stan()
    assert terminal.purchase(card.track2, card.pin, card.pan, 4200, stan=stan).message.text(39) == "00"
    money = link.money()
    assert terminal.reversal(stan, 4201).message.text(39) == "96"       # refused: nothing changed
    assert link.money() == money and link.balance("reverse") == before - 4200
    assert terminal.reversal(stan, 4200).message.text(39) == "00"
    assert link.balance("reverse") == before
