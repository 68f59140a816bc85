"""Wallet loads through the real SecureChannel over loopback: the host checks
the card (status, MAC1 under the configured issuer keys, wallet limit) and the
bank card exactly as a payment (PIN, limits, funds), debits the bank, answers
a MAC2 the card accepts, and moves the mirror only on a TAC that verifies.
Money adds up to the fen before and after every scenario, cancels included."""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from tests.support.card_centre import (CardEnv, check_money, CHEN, hex_, host_toml_with_cards, LIU, SimCard,
                                       WHEN, ZHANG)
from tests.support.card_centre import cards_fixture, cards_link_fixture  # noqa: F401  (fixtures)
from tests.support.bank8583 import Terminal, pay_bill
from host.bank.journal import WALLET_LOAD, WALLET_LOAD_REVERSAL
from host.cards.registry import set_status
from host.schema.bank import bank_journal
from tests.support.host_env import BankEnv, BLOCKED, EXPIRED, GOOD, LIMITED, LOW, OTHER_KIOSK, OTHER_TMK
from common.epurse_issuer import DEMO_ISSUER_KEYS
from common.epurse import Wallet
from common.bank_card import mask_pan
import pytest
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL


def _journal(env: CardEnv) -> list[tuple[object, ...]]:
    with env.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(bank_journal.c.txn_id, bank_journal.c.type, bank_journal.c.result, bank_journal.c.code,
                   bank_journal.c.masked_pan, bank_journal.c.amount_fen, bank_journal.c.reference)
            .order_by(bank_journal.c.id))]


def test_load_is_authorised_then_confirmed_by_the_cards_tac(cards: CardEnv) -> None:
    card = SimCard.of(ZHANG)
    before, balance = cards.totals(), cards.account(GOOD.pan).balance_fen
    reply, init = cards.cards.load_authorise("L-1", card, Wallet.EP, 10_000)
    assert reply.status == 200 and reply.mac_ok
    answer = reply.json
    assert list(answer) == ["txn_id", "result", "mac2", "reference"]
    assert answer["txn_id"] == "L-1" and answer["result"] == "approved"
    assert re.fullmatch(r"[0-9A-F]{8}", answer["mac2"]) and re.fullmatch(r"W261121\d{5}", answer["reference"])

    # authorised: the bank account is debited, the money is in flight, the mirror has not moved
    middle = cards.totals()
    check_money(before, middle)
    assert cards.account(GOOD.pan).balance_fen == balance - 10_000
    assert middle["loads_in_flight_fen"] - before["loads_in_flight_fen"] == 10_000
    assert cards.mirror(ZHANG.serial) == (ZHANG.ed_balance.fen, ZHANG.ep_balance.fen)
    txn = cards.txn("L-1")
    assert (txn.state, txn.kind, txn.txn_type, txn.wallet, txn.amount_fen, txn.balance_fen, txn.counter) == \
        ("authorised", "load", 0x02, "EP", 10_000, ZHANG.ep_balance.fen, init.counter)
    assert txn.masked_pan == mask_pan(GOOD.pan) and txn.reference == answer["reference"]
    assert _journal(cards) == [("L-1", WALLET_LOAD, "approved", None, mask_pan(GOOD.pan), 10_000,
                                answer["reference"])]

    # the card accepts the host's MAC2 and proves its credit with a TAC
    tac = card.credit_load(WHEN, bytes.fromhex(answer["mac2"]))
    confirm = cards.cards.post("load/confirm", {"txn_id": "L-1", "tac": hex_(tac)})
    assert confirm.status == 200 and confirm.mac_ok and confirm.json == {"txn_id": "L-1", "status": "completed"}
    assert cards.mirror(ZHANG.serial) == (card.ed, card.ep) == (ZHANG.ed_balance.fen, ZHANG.ep_balance.fen + 10_000)
    after = cards.totals()
    check_money(before, after)
    check_money(middle, after)
    assert after["cards_fen"] - before["cards_fen"] == 10_000 and after["loads_in_flight_fen"] == 0
    assert cards.txn("L-1").state == "completed" and cards.txn("L-1").resolved_by == "KIOSK-TEST-01"

    # repeats: the first answers byte for byte, nothing moves again
    state = cards.dump()
    again = cards.cards.post("load/confirm", {"txn_id": "L-1", "tac": hex_(tac).lower()})
    assert again.status == 200 and again.body == confirm.body
    repeat = cards.cards.post("load/authorise", cards.cards.load_fields("L-1", card, Wallet.EP, 10_000, init))
    assert repeat.status == 200 and repeat.mac_ok and repeat.body == reply.body
    unchanged = cards.dump()
    assert {k: v for k, v in unchanged.items() if k != "kiosks"} == {k: v for k, v in state.items() if k != "kiosks"}
    assert cards.totals() == after


def test_an_ed_load_and_the_loads_of_a_day(cards: CardEnv) -> None:
    card = SimCard.of(ZHANG)
    before = cards.totals()
    assert cards.cards.load("L-ED", card, Wallet.ED, 123_45).json["status"] == "completed"
    assert cards.cards.load("L-EP", card, Wallet.EP, 1).json["status"] == "completed"
    assert cards.mirror(ZHANG.serial) == (card.ed, card.ep) == \
        (ZHANG.ed_balance.fen + 123_45, ZHANG.ep_balance.fen + 1)
    assert cards.txn("L-ED").txn_type == 0x01
    after = cards.totals()
    check_money(before, after)
    assert before["bank_balances_fen"] - after["bank_balances_fen"] == 123_46 == \
        after["wallet_net_fen"] - before["wallet_net_fen"]


def test_card_side_declines(cards: CardEnv) -> None:
    before, balance = cards.totals(), cards.account(GOOD.pan).balance_fen
    kiosk = cards.cards

    def declined(txn_id: str, card: SimCard, wallet: Wallet = Wallet.EP, amount: int = 1000, **change: object) \
            -> dict[str, object]:
        init = card.init_load(wallet, amount)
        fields = {**kiosk.load_fields(txn_id, card, wallet, amount, init), **change}
        reply = kiosk.post("load/authorise", fields)
        assert reply.status == 200 and reply.mac_ok, reply.body
        return reply.json

    stranger = SimCard("0000260100000000FFFF", 0, 0)
    assert declined("D-1", stranger) == \
        {"txn_id": "D-1", "result": "declined", "code": "unknown_ic_card", "tries_left": None}
    assert declined("D-2", SimCard.of(LIU))["code"] == "card_blacklisted"
    with cards.engine.begin() as conn:
        set_status(conn, ZHANG.serial, "lost", datetime(2026, 11, 21, 9))
    assert declined("D-3", SimCard.of(ZHANG))["code"] == "card_lost"
    # MAC1 must cover what the card said: a balance changed on the way, a card of other issuer keys
    assert declined("D-4", SimCard.of(CHEN), balance_fen=CHEN.ep_balance.fen - 1)["code"] == "mac1_invalid"
    assert declined("D-5", SimCard.of(CHEN, DEMO_ISSUER_KEYS))["code"] == "mac1_invalid"
    assert declined("D-6", SimCard.of(CHEN), mac1="00000000")["code"] == "mac1_invalid"
    # the wallet maximum on the mirror: EP 990.00 + 10.01 > 1,000.00; ED 49,900.00 + 100.01 > 50,000.00
    assert declined("D-7", SimCard.of(CHEN), Wallet.EP, 10_01)["code"] == "wallet_limit"
    assert declined("D-8", SimCard.of(CHEN), Wallet.ED, 100_01)["code"] == "wallet_limit"
    assert declined("D-9", SimCard.of(CHEN), Wallet.EP, 10_00)["result"] == "approved"   # exactly to the maximum

    after = cards.totals()
    check_money(before, after)
    assert after["loads_in_flight_fen"] == 10_00
    assert cards.account(GOOD.pan).balance_fen == balance - 10_00
    assert [line[:3] for line in _journal(cards)] == [("D-9", WALLET_LOAD, "approved")]   # only the bank's part
    assert cards.txn("D-4").state == "declined" and cards.txn("D-4").code == "mac1_invalid"


def test_bank_side_declines_are_the_bank_payments_checks(cards: CardEnv, cards_link: Terminal) -> None:
    card, kiosk = SimCard.of(ZHANG), cards.cards
    before = cards.totals()

    def load(txn_id: str, bank: object, amount: int = 100_00, pin: str | None = None) -> dict[str, object]:
        reply, _ = kiosk.load_authorise(txn_id, card, Wallet.ED, amount, bank, pin)   # type: ignore[arg-type]
        assert reply.status == 200 and reply.mac_ok
        return reply.json

    assert load("B-1", GOOD, pin="999999") == \
        {"txn_id": "B-1", "result": "declined", "code": "wrong_pin", "tries_left": 2}
    assert load("B-2", GOOD, pin="000000")["tries_left"] == 1
    assert load("B-3", GOOD)["result"] == "approved"                            # a right PIN resets the count
    assert cards.account(GOOD.pan).pin_tries == 0
    assert load("B-4", EXPIRED)["code"] == "expired_card"
    assert load("B-5", BLOCKED)["code"] == "card_blocked"
    assert load("B-6", LOW)["code"] == "insufficient_funds"                     # ¥50.00 < ¥100.00
    assert load("B-7", LIMITED, 400_00)["result"] == "approved"                 # limit ¥500.00 a day
    assert load("B-8", LIMITED, 100_01)["code"] == "daily_limit"
    # a bill payment on the same card counts toward the same limit, and the other way round
    bill = cards.bill("2-1-601")
    assert pay_bill(cards_link, "2-1-601", bill, LIMITED)[39] == "61"         # over the link: daily limit
    assert [load(f"B-9{i}", LOW, pin="000000")["code"] for i in range(4)] == \
        ["wrong_pin", "wrong_pin", "pin_locked", "pin_locked"]
    assert load("B-99", LOW, 1)["code"] == "pin_locked"                         # the right PIN no longer helps

    after = cards.totals()
    check_money(before, after)
    assert after["loads_in_flight_fen"] == 500_00
    lines = _journal(cards)
    assert [(t, r, c) for t, _, r, c, *_ in lines if t in ("B-1", "B-4", "B-5", "B-6", "B-8")] == [
        ("B-1", "declined", "wrong_pin"), ("B-4", "declined", "expired_card"), ("B-5", "declined", "card_blocked"),
        ("B-6", "declined", "insufficient_funds"), ("B-8", "declined", "daily_limit")]
    assert {kind for _, kind, *_ in lines} == {WALLET_LOAD}     # the link's purchase is in its own journal


def test_unknown_bank_card(cards: CardEnv) -> None:
    stranger = dataclasses.replace(GOOD, pan="4111111111111111", pin="1234")
    reply, _ = cards.cards.load_authorise("U-1", SimCard.of(ZHANG), Wallet.EP, 100, stranger)
    assert reply.json["code"] == "unknown_card"
    assert cards.txn("U-1").masked_pan == "411111******1111"


def test_a_tac_that_does_not_verify_is_refused_and_the_load_stays_pending(cards: CardEnv) -> None:
    card = SimCard.of(ZHANG)
    before = cards.totals()
    reply, _ = cards.cards.load_authorise("T-1", card, Wallet.EP, 50_00)
    tac = card.credit_load(WHEN, bytes.fromhex(reply.json["mac2"]))
    middle, state = cards.totals(), cards.dump()
    wrong = bytes([tac[0] ^ 1]) + tac[1:]
    refused = cards.cards.post("load/confirm", {"txn_id": "T-1", "tac": hex_(wrong)})
    assert refused.status == 400 and refused.mac_ok and refused.json["error"] == "bad_request"
    assert "stays pending" in refused.json["message"]
    assert cards.dump() == state and cards.txn("T-1").state == "authorised"
    assert [p["txn_id"] for p in cards.cards.seen(ZHANG.serial).json["pending"]] == ["T-1"]
    # the right TAC still completes it
    assert cards.cards.post("load/confirm", {"txn_id": "T-1", "tac": hex_(tac)}).json["status"] == "completed"
    assert cards.cards.post("load/confirm", {"txn_id": "T-1", "tac": hex_(wrong)}).status == 400
    check_money(before, middle)
    check_money(middle, cards.totals())


def test_cancel_before_confirm_gives_the_money_back(cards: CardEnv) -> None:
    card = SimCard.of(ZHANG)
    before, balance = cards.totals(), cards.account(GOOD.pan).balance_fen
    reply, _ = cards.cards.load_authorise("C-1", card, Wallet.EP, 70_00)
    reference = reply.json["reference"]
    cancelled = cards.cards.cancel("load", "C-1", "card removed before credit")
    assert cancelled.status == 200 and cancelled.mac_ok and cancelled.json == {"txn_id": "C-1", "status": "cancelled"}
    assert cards.account(GOOD.pan).balance_fen == balance
    assert cards.totals() == before
    assert _journal(cards)[-1] == ("C-1", WALLET_LOAD_REVERSAL, "reversed", "card removed before credit",
                                   mask_pan(GOOD.pan), 70_00, reference)
    assert cards.cards.cancel("load", "C-1").json == {"txn_id": "C-1", "status": "already_cancelled"}
    # a late repeat of the authorise, and a confirm, change nothing
    late = cards.cards.post("load/authorise", cards.cards.load_fields("C-1", card, Wallet.EP, 70_00,
                                                                      card.init_load(Wallet.EP, 70_00)))
    assert late.json == {"txn_id": "C-1", "result": "declined", "code": "cancelled", "tries_left": None}
    assert cards.cards.post("load/confirm", {"txn_id": "C-1", "tac": "00000000"}).status == 400
    assert cards.totals() == before and cards.account(GOOD.pan).balance_fen == balance


def test_cancel_of_an_unknown_load_leaves_a_tombstone(cards: CardEnv) -> None:
    card = SimCard.of(ZHANG)
    before = cards.totals()
    assert cards.cards.cancel("load", "C-LOST").json == {"txn_id": "C-LOST", "status": "not_found"}
    assert cards.cards.cancel("load", "C-LOST").json == {"txn_id": "C-LOST", "status": "not_found"}
    reply, _ = cards.cards.load_authorise("C-LOST", card, Wallet.EP, 10_00)
    assert reply.status == 200 and reply.mac_ok
    assert reply.json == {"txn_id": "C-LOST", "result": "declined", "code": "cancelled", "tries_left": None}
    assert cards.totals() == before
    # a declined load has nothing to give back
    declined, _ = cards.cards.load_authorise("C-D", card, Wallet.EP, 10_00, pin="999999")
    assert declined.json["code"] == "wrong_pin"
    assert cards.cards.cancel("load", "C-D").json == {"txn_id": "C-D", "status": "not_found"}
    assert cards.totals() == before


def test_a_completed_load_cannot_be_cancelled(cards: CardEnv) -> None:
    card = SimCard.of(ZHANG)
    cards.cards.load("C-2", card, Wallet.EP, 5_00)
    before, state = cards.totals(), cards.dump()
    refused = cards.cards.cancel("load", "C-2")
    assert refused.status == 400 and refused.mac_ok
    assert cards.dump() == state and cards.totals() == before
    # nor be handled as another kind
    assert cards.cards.cancel("purchase", "C-2").status == 400
    assert cards.cards.post("unload/confirm", {"txn_id": "C-2", "mac3": "00000000"}).status == 400


def test_a_txn_id_belongs_to_its_kiosk_and_a_replayed_counter_is_refused(cards: CardEnv) -> None:
    card = SimCard.of(ZHANG)
    first, init = cards.cards.load_authorise("K-1", card, Wallet.EP, 10_00)
    assert first.json["result"] == "approved"
    state = cards.dump()
    other = cards.signer(OTHER_KIOSK, OTHER_TMK)
    try:
        other.sign_on()
        state = cards.dump()
        fields = cards.cards.load_fields("K-1", card, Wallet.EP, 10_00, init)
        fields["pin_block"] = other.pin_block(GOOD.pin, GOOD.pan)
        stolen = other.post("/api/v1/cards/load/authorise", fields)
        assert stolen.status == 400 and stolen.mac_ok and "another kiosk" in stolen.json["message"]
    finally:
        other.close()
    assert cards.dump() == state

    # the same counter again (a replayed message) is refused and changes nothing
    signer = cards.kiosk
    raw = signer.body(cards.cards.load_fields("K-2", card, Wallet.EP, 10_00, card.init_load(Wallet.EP, 10_00)),
                      counter=signer.counter)
    replay = signer.send("/api/v1/cards/load/authorise", raw, signer.mak)
    assert replay.status == 409 and replay.json["error"] == "replay" and replay.mac_ok
    assert cards.dump() == state
    # a bad MAC is refused too
    bad = signer.send("/api/v1/cards/load/authorise", signer.body({"txn_id": "K-3"}), signer.mak, mac="00" * 8)
    assert bad.status == 401 and bad.json["error"] == "bad_mac"
    assert cards.dump()["card_txns"] == state["card_txns"]


def test_bad_fields_are_refused(cards: CardEnv) -> None:
    card = SimCard.of(ZHANG)
    init = card.init_load(Wallet.EP, 100)
    good = cards.cards.load_fields("F-1", card, Wallet.EP, 100, init)
    state = cards.dump()["card_txns"]
    for change in ({"serial": "XYZ"}, {"wallet": "EX"}, {"random": "123"}, {"mac1": "GG000000"},
                   {"term_id": "00"}, {"when": "20261131103105"}, {"card_counter": 70000}, {"amount_fen": 0},
                   {"balance_fen": -1}, {"pan": GOOD.pan[:-1] + "0"}, {"pin_block": "00"}):
        reply = cards.cards.post("load/authorise", {**good, **change})
        assert reply.status == 400 and reply.mac_ok, change
    assert cards.dump()["card_txns"] == state


def test_a_host_without_card_centre_keys_answers_503(bank: BankEnv) -> None:
    bank.kiosk.sign_on()
    reply = bank.kiosk.post("/api/v1/cards/seen", {"serial": ZHANG.serial})
    assert reply.status == 503 and reply.json["error"] == "card_centre_off" and reply.mac is None


def test_the_test_host_config_has_the_test_issuer_keys(tmp_path: Path) -> None:
    from tests.support.card_centre import TEST_ISSUER
    from host.config import load_host_settings
    settings = load_host_settings(host_toml_with_cards(tmp_path))
    assert settings.issuer_keys == TEST_ISSUER != DEMO_ISSUER_KEYS
    assert "BC3A4733" not in repr(settings)


def test_a_load_on_a_host_without_bank_keys_is_503_and_moves_nothing(bank_template: Path, tmp_path: Path) -> None:
    """No [bank] keys: no bank account can be found, so a load (bank money) is
    answered 503 bank_off, never a 500; nothing is written."""
    import shutil

    from tests.support.card_centre import CardKiosk
    from tests.support.clocks import running_from
    from host.app import create_app
    from host.config import load_host_settings
    from host.db import make_engine
    from host.server import HostServer
    from tests.support.host_env import KioskSigner, SEED_TODAY, TEST_KIOSK, TEST_TMK

    db = tmp_path / "cards.sqlite3"
    shutil.copyfile(bank_template, db)
    settings = dataclasses.replace(load_host_settings(host_toml_with_cards(tmp_path)), bank=None)
    engine = make_engine(f"sqlite:///{db}")
    server = HostServer(create_app(settings, engine, clock=running_from(SEED_TODAY)))
    server.start()
    signer = KioskSigner(server.url, TEST_KIOSK, TEST_TMK)
    try:
        assert signer.sign_on().status == 200
        with engine.connect() as conn:
            before = conn.execute(select(bank_journal)).all()
        reply, _ = CardKiosk(signer).load_authorise("L-OFF", SimCard.of(ZHANG), Wallet.EP, 10_000)
        assert reply.status == 503 and reply.json["error"] == "bank_off"
        with engine.connect() as conn:
            assert conn.execute(select(bank_journal)).all() == before
    finally:
        signer.close()
        server.stop()
        engine.dispose()
