"""cards/status through the real SecureChannel: a kiosk learns what became of
its own wallet transactions (to send their backup copies with the final
result), in every state; another kiosk's transaction is not_found, as is one
never authorised; nothing is changed by asking; bad requests are refused."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.support.card_centre import CardEnv, CardKiosk, CHEN, hex_, LI, SimCard, WHEN, ZHANG
from tests.support.card_centre import cards_fixture  # noqa: F401  (the `cards` fixture)
from host.billing import unpaid_periods
from host.schema.cards import card_txns
from tests.support.host_env import OTHER_KIOSK, OTHER_TMK
from common.epurse import Wallet

from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL


def _status(kiosk: CardKiosk, txn_ids: Any) -> dict[str, dict[str, Any]]:
    reply = kiosk.post("status", {"txn_ids": txn_ids})
    assert reply.status == 200 and reply.mac_ok, reply.body
    answers = reply.json["txns"]
    assert [a["txn_id"] for a in answers] == list(dict.fromkeys(txn_ids))    # one per id, in the order asked
    return {a["txn_id"]: a for a in answers}


def _not_found(txn_id: str) -> dict[str, Any]:
    return {"txn_id": txn_id, "kind": None, "status": "not_found", "reference": None}


def test_a_kiosk_learns_each_state_of_its_own_transactions(cards: CardEnv) -> None:
    zhang, li, chen = SimCard.of(ZHANG), SimCard.of(LI), SimCard.of(CHEN)
    kiosk = cards.cards
    assert kiosk.load("T-LOAD", zhang, Wallet.EP, 100_00).json["status"] == "completed"
    kiosk.load_authorise("T-PENDING", zhang, Wallet.ED, 20_00)          # the card never came back
    kiosk.load_authorise("T-CANCELLED", zhang, Wallet.EP, 50_00)
    assert kiosk.cancel("load", "T-CANCELLED").json["status"] == "cancelled"
    reply, _ = kiosk.unload_authorise("T-UNLOAD", li, 300_00)
    mac3 = li.unload(WHEN, bytes.fromhex(reply.json["mac2"]))
    assert kiosk.post("unload/confirm", {"txn_id": "T-UNLOAD", "mac3": hex_(mac3)}).json["status"] == "completed"
    bill = cards.bill("2-2-902")
    reply, txn_no = kiosk.purchase_authorise("T-PURCHASE", chen, Wallet.EP, "2-2-902", unpaid_periods(bill),
                                             bill["total_due_fen"])
    tac, mac2 = chen.debit_purchase(txn_no, WHEN, bytes.fromhex(reply.json["mac1"]))
    reference = kiosk.post("purchase/confirm", {"txn_id": "T-PURCHASE", "tac": hex_(tac), "mac2": hex_(mac2)}) \
        .json["reference"]
    declined, _ = kiosk.load_authorise("T-DECLINED", zhang, Wallet.EP, 30_00, pin="000000")
    assert declined.json["code"] == "wrong_pin"
    assert kiosk.cancel("load", "T-TOMBSTONE").json["status"] == "not_found"   # a cancel for an id never seen
    before, rows_before = cards.totals(), _rows(cards)

    asked = ["T-LOAD", "T-PENDING", "T-CANCELLED", "T-UNLOAD", "T-PURCHASE", "T-DECLINED", "T-TOMBSTONE",
             "T-NEVER", "T-LOAD"]
    answers = _status(kiosk, asked)
    ref = {t: cards.txn(t).reference for t in ("T-LOAD", "T-PENDING", "T-CANCELLED", "T-UNLOAD")}
    assert all(r is not None and r.startswith("W261121") for r in ref.values())
    assert answers == {
        "T-LOAD": {"txn_id": "T-LOAD", "kind": "load", "status": "completed", "reference": ref["T-LOAD"]},
        "T-PENDING": {"txn_id": "T-PENDING", "kind": "load", "status": "authorised", "reference": ref["T-PENDING"]},
        "T-CANCELLED": {"txn_id": "T-CANCELLED", "kind": "load", "status": "cancelled",
                        "reference": ref["T-CANCELLED"]},
        "T-UNLOAD": {"txn_id": "T-UNLOAD", "kind": "unload", "status": "completed", "reference": ref["T-UNLOAD"]},
        "T-PURCHASE": {"txn_id": "T-PURCHASE", "kind": "purchase", "status": "completed", "reference": reference},
        # never authorised: nothing moved, as cards/<kind>/cancel says of them
        "T-DECLINED": _not_found("T-DECLINED"), "T-TOMBSTONE": _not_found("T-TOMBSTONE"),
        "T-NEVER": _not_found("T-NEVER"),
    }
    # asking moves no money and changes no transaction
    assert cards.totals() == before and _rows(cards) == rows_before
    assert before["loads_in_flight_fen"] == 20_00
    assert _status(kiosk, []) == {}


def test_another_kiosks_transaction_is_not_found(cards: CardEnv) -> None:
    zhang, li = SimCard.of(ZHANG), SimCard.of(LI)
    mine = cards.cards
    assert mine.load("K1-LOAD", zhang, Wallet.EP, 10_00).json["status"] == "completed"
    other = cards.signer(OTHER_KIOSK, OTHER_TMK)
    try:
        assert other.sign_on().status == 200
        theirs = CardKiosk(other)
        theirs.load_authorise("K2-PENDING", li, Wallet.ED, 40_00)
        assert _status(mine, ["K2-PENDING", "K1-LOAD"]) == {
            "K2-PENDING": _not_found("K2-PENDING"),
            "K1-LOAD": {"txn_id": "K1-LOAD", "kind": "load", "status": "completed",
                        "reference": cards.txn("K1-LOAD").reference}}
        assert _status(theirs, ["K1-LOAD", "K2-PENDING"]) == {
            "K1-LOAD": _not_found("K1-LOAD"),
            "K2-PENDING": {"txn_id": "K2-PENDING", "kind": "load", "status": "authorised",
                           "reference": cards.txn("K2-PENDING").reference}}
        # settled by kiosk 1 from the card's proof: still kiosk 2's to learn, not kiosk 1's
        assert mine.cancel("load", "K2-PENDING", "proof: not applied").json["status"] == "cancelled"
        assert _status(theirs, ["K2-PENDING"])["K2-PENDING"]["status"] == "cancelled"
        assert _status(mine, ["K2-PENDING"])["K2-PENDING"] == _not_found("K2-PENDING")
    finally:
        other.close()


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "txn_ids must be a list"),
    ({"txn_ids": "T-1"}, "txn_ids must be a list"),
    ({"txn_ids": {"T-1": True}}, "txn_ids must be a list"),
    ({"txn_ids": [f"T-{i}" for i in range(51)]}, "at most 50 ids"),
    ({"txn_ids": ["T-1", 2]}, "non-empty string"),
    ({"txn_ids": ["T-1", None]}, "non-empty string"),
    ({"txn_ids": [""]}, "non-empty string"),
    ({"txn_ids": ["T" * 65]}, "at most 64 characters"),
], ids=["missing", "a string", "an object", "51 ids", "a number", "a null", "empty", "too long"])
def test_bad_requests_are_refused(cards: CardEnv, fields: dict[str, Any], message: str) -> None:
    reply = cards.cards.post("status", fields)
    assert reply.status == 400 and reply.mac_ok
    assert reply.json["error"] == "bad_request" and message in reply.json["message"]


def test_fifty_ids_are_answered(cards: CardEnv) -> None:
    ids = [f"T-{i}" for i in range(50)]
    assert _status(cards.cards, ids) == {t: _not_found(t) for t in ids}


def _rows(cards: CardEnv) -> list[Any]:
    with cards.engine.connect() as conn:
        return conn.execute(select(card_txns).order_by(card_txns.c.id)).all()
