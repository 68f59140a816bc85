"""Wallet unloads (passbook → bank card) through the real SecureChannel: MAC1
under the unload key, the bank card usable (no PIN: a credit), a MAC2 the card
accepts, and money moves only on a MAC3 that verifies."""
from __future__ import annotations

import dataclasses

from sqlalchemy import select

from tests.support.card_centre import CardEnv, check_money, hex_, LI, LIU, SimCard, WHEN
from tests.support.card_centre import cards_fixture  # noqa: F401  (the `cards` fixture)
from host.bank.journal import WALLET_UNLOAD
from host.schema.bank import bank_journal
from tests.support.host_env import BLOCKED, EXPIRED, GOOD
from common.epurse_issuer import DEMO_ISSUER_KEYS
from common.epurse import Wallet
from common.bank_card import mask_pan
import pytest
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL


def test_unload_moves_money_only_when_the_mac3_verifies(cards: CardEnv) -> None:
    card = SimCard.of(LI)
    before, balance = cards.totals(), cards.account(GOOD.pan).balance_fen
    reply, init = cards.cards.unload_authorise("N-1", card, 200_00)
    assert reply.status == 200 and reply.mac_ok
    assert list(reply.json) == ["txn_id", "result", "mac2"] and reply.json["result"] == "approved"
    assert cards.totals() == before                         # authorised: nothing has moved yet
    txn = cards.txn("N-1")
    assert (txn.state, txn.kind, txn.txn_type, txn.wallet, txn.counter) == ("authorised", "unload", 3, "ED",
                                                                             init.counter)
    assert cards.cards.seen(LI.serial).json["pending"] == [
        {"txn_id": "N-1", "kind": "unload", "txn_type": 3, "wallet": "ED", "amount_fen": 200_00,
         "counter": init.counter, "kiosk_id": "KIOSK-TEST-01"}]

    mac3 = card.unload(WHEN, bytes.fromhex(reply.json["mac2"]))    # the card accepts the host's MAC2
    wrong = cards.cards.post("unload/confirm", {"txn_id": "N-1", "mac3": hex_(bytes(4))})
    assert wrong.status == 400 and wrong.mac_ok and cards.totals() == before
    assert cards.txn("N-1").state == "authorised"

    done = cards.cards.post("unload/confirm", {"txn_id": "N-1", "mac3": hex_(mac3)})
    assert done.status == 200 and done.mac_ok and done.json == {"txn_id": "N-1", "status": "completed"}
    assert cards.account(GOOD.pan).balance_fen == balance + 200_00
    assert cards.mirror(LI.serial) == (card.ed, card.ep) == (LI.ed_balance.fen - 200_00, LI.ep_balance.fen)
    after = cards.totals()
    check_money(before, after)
    assert after["wallet_net_fen"] - before["wallet_net_fen"] == -200_00
    with cards.engine.connect() as conn:
        line = conn.execute(select(bank_journal).where(bank_journal.c.txn_id == "N-1")).one()
    assert (line.type, line.result, line.amount_fen, line.masked_pan, line.reference) == \
        (WALLET_UNLOAD, "approved", 200_00, mask_pan(GOOD.pan), txn.reference)
    assert cards.cards.post("unload/confirm", {"txn_id": "N-1", "mac3": hex_(mac3)}).body == done.body
    assert cards.totals() == after
    assert cards.cards.seen(LI.serial).json["pending"] == []


def test_unload_declines(cards: CardEnv) -> None:
    before = cards.totals()

    def unload(txn_id: str, card: SimCard, bank: object = GOOD, **change: object) -> dict[str, object]:
        init = card.init_unload(50_00)
        fields = {**cards.cards.unload_fields(txn_id, card, 50_00, init, bank), **change}   # type: ignore[arg-type]
        reply = cards.cards.post("unload/authorise", fields)
        assert reply.status == 200 and reply.mac_ok, reply.body
        return reply.json

    assert unload("ND-1", SimCard.of(LIU))["code"] == "card_blacklisted"
    assert unload("ND-2", SimCard.of(LI, DEMO_ISSUER_KEYS))["code"] == "mac1_invalid"
    # an unload MAC1 is under the unload key: a load key's MAC1 does not pass
    li = SimCard.of(LI)
    init = li.init_load(Wallet.ED, 50_00)
    assert unload("ND-3", SimCard.of(LI), mac1=hex_(init.mac1))["code"] == "mac1_invalid"
    assert unload("ND-4", SimCard.of(LI), EXPIRED) == \
        {"txn_id": "ND-4", "result": "declined", "code": "expired_card", "tries_left": None}
    assert unload("ND-5", SimCard.of(LI), BLOCKED)["code"] == "card_blocked"
    stranger = dataclasses.replace(GOOD, pan="4111111111111111")
    assert unload("ND-6", SimCard.of(LI), stranger)["code"] == "unknown_card"
    assert cards.totals() == before
    # more than the card holds: the card would have refused the initialize, so the kiosk is wrong
    card = SimCard.of(LI)
    fields = cards.cards.unload_fields("ND-7", card, LI.ed_balance.fen + 1, card.init_unload(LI.ed_balance.fen + 1))
    assert cards.cards.post("unload/authorise", fields).status == 400


def test_unload_cancel_and_tombstone(cards: CardEnv) -> None:
    card = SimCard.of(LI)
    before = cards.totals()
    reply, _ = cards.cards.unload_authorise("NC-1", card, 50_00)
    assert reply.json["result"] == "approved"
    assert cards.cards.cancel("unload", "NC-1").json == {"txn_id": "NC-1", "status": "cancelled"}
    assert cards.cards.cancel("unload", "NC-1").json["status"] == "already_cancelled"
    assert cards.cards.post("unload/confirm", {"txn_id": "NC-1", "mac3": "00000000"}).status == 400
    assert cards.cards.cancel("unload", "NC-2").json == {"txn_id": "NC-2", "status": "not_found"}
    late, _ = cards.cards.unload_authorise("NC-2", card, 50_00)
    assert late.json["code"] == "cancelled"
    assert cards.totals() == before and cards.mirror(LI.serial)[0] == LI.ed_balance.fen
