"""The one-card in the host (docs/onecard.md "The host"): the presentation's
checks against the registry and the mirror, authorise / confirm / cancel of a
load from a bank card and of a bill payment, the sector keys never in clear,
and replayed or forged messages refused like every signed route. The card is
the virtual MIFARE Classic in the test's process, read and written by the
kiosk's purse with only the keys the host delivered."""
from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from host.billing import period_of, shift_period, unpaid_periods
from common.onecard import DEMO_MAP, TxnType
from common.onecard_blocks import CardStatus, Issuance
from kiosk.domain.errors import CardAuthRefused, CardTorn
from host.onecard.registry import DemoOneCard
from kiosk.devices.sim.m1_card import VirtualM1Card
from kiosk.devices.sim.m1_card_data import OneCardProfile
from tests.support.databases import BACKENDS
from tests.support.host_env import GOOD
from tests.support.onecard_host import (BLACK, FUNDED, ROLLED_BACK, SEED_WHEN, TERMINAL, OneCardEnv,
                                        all_sector_keys_hex, purse, virtual, world)
from tests.support.onecard import pull_at

# the tests that move money run their host on SQLite and on PostgreSQL; the rest on SQLite
BOTH = pytest.mark.backends(*BACKENDS)

HOUSE = FUNDED.house_no          # 2-1-601: the latest month unpaid


def test_a_card_that_matches_the_mirror_is_accepted(onecard_env: OneCardEnv) -> None:
    card = virtual(FUNDED)
    reply, p, _ = onecard_env.onecard.present(card)
    assert reply.status == 200 and reply.mac_ok
    assert reply.json == {"uid": FUNDED.uid, "result": "ok", "code": None, "balance_fen": FUNDED.balance_fen,
                          "count": FUNDED.count, "holder": FUNDED.holder, "house_no": HOUSE, "finish": None}
    assert onecard_env.flags(FUNDED.uid) == []


def test_the_rolled_back_card_is_refused_and_flagged(onecard_env: OneCardEnv) -> None:
    reply, p, _ = onecard_env.onecard.present(virtual(ROLLED_BACK))
    assert (reply.json["result"], reply.json["code"]) == ("refused", "mirror_mismatch")
    [flag] = onecard_env.flags(ROLLED_BACK.uid)
    assert flag.reason == "mirror_mismatch" and "12000 fen after 5" in flag.detail and "8000 fen after 6" in flag.detail
    assert p.balance == 12_000      # the card holds more than the mirror: it is the mirror that counts
    declined = onecard_env.onecard.authorise("OC-RB-1", ROLLED_BACK.uid, "bill", 100, 12_000, 5,
                                             house_no=ROLLED_BACK.house_no,
                                             periods=[shift_period(period_of(SEED_WHEN.date()), -1)])  # the last billed month
    assert declined.json["result"] == "declined" and declined.json["code"] == "mirror_mismatch"
    assert "keys" not in declined.json


def test_a_forged_auth_code_is_refused_and_flagged(onecard_env: OneCardEnv) -> None:
    card = virtual(FUNDED)
    forged = bytes(16)
    reply, _, _ = onecard_env.onecard.present(card, block5=forged.hex())
    assert (reply.json["result"], reply.json["code"]) == ("refused", "auth_code")
    # block 4 changed (another serial) under the old code: the code no longer fits
    b4 = Issuance.decode(card.block(DEMO_MAP.issuance_block))
    other = dataclasses.replace(b4, serial=b4.serial + 1).encode()
    reply, _, _ = onecard_env.onecard.present(card, block4=other.hex())
    assert reply.json["code"] == "auth_code"
    assert [f.reason for f in onecard_env.flags(FUNDED.uid)] == ["auth_code", "auth_code"]


@pytest.mark.parametrize("change, code", [
    ({"status": "lost"}, "lost"),
    ({"expiry": date(2026, 11, 20)}, "expired"),
    ({"black": True}, "blacklisted"),
])
def test_lost_expired_and_black_flagged_cards_are_refused(onecard_env: OneCardEnv, change: dict[str, object],
                                                          code: str) -> None:
    onecard_env.set_card(FUNDED.uid, **change)
    reply, _, _ = onecard_env.onecard.present(virtual(FUNDED))
    assert (reply.json["result"], reply.json["code"]) == ("refused", code)
    assert onecard_env.flags(FUNDED.uid) == []      # a status is not a case for staff


def test_a_card_lost_on_the_card_itself_is_refused(onecard_env: OneCardEnv) -> None:
    card = VirtualM1Card.create(None, dataclasses.replace(
        _profile(FUNDED), status=CardStatus.LOST))
    reply, _, _ = onecard_env.onecard.present(card)
    assert reply.json["code"] == "lost"


def _profile(demo: DemoOneCard) -> OneCardProfile:
    return OneCardProfile(uid=bytes.fromhex(demo.uid), issued=demo.issued, expiry=demo.expiry,
                          balance=demo.balance_fen, serial=demo.serial, count=demo.count)


@BOTH
def test_a_load_end_to_end_moves_bank_money_onto_card_and_mirror(onecard_env: OneCardEnv) -> None:
    env, kiosk, card = onecard_env, onecard_env.onecard, virtual(FUNDED)
    before, bank_before = world(env, [card]), env.account(GOOD.pan).balance_fen
    reply, p, purse_ = kiosk.present(card)
    approved = kiosk.authorise("OC-L-1", FUNDED.uid, "load", 5_000, p.balance, p.info.count)
    assert approved.status == 200 and approved.json["result"] == "approved", approved.body
    assert approved.json["reference"].startswith("M") and env.txn("OC-L-1").state == "authorised"
    assert env.account(GOOD.pan).balance_fen == bank_before - 5_000
    result = kiosk.write(purse_, p, approved, "load", 5_000)
    done = kiosk.confirm("OC-L-1", FUNDED.uid, result.balance_after, result.count)
    assert done.json == {"txn_id": "OC-L-1", "status": "completed", "reference": approved.json["reference"]}
    assert kiosk.confirm("OC-L-1", FUNDED.uid, result.balance_after, result.count).body == done.body  # idempotent
    row = env.card_row(FUNDED.uid)
    assert (row.balance_fen, row.txn_count) == (FUNDED.balance_fen + 5_000, FUNDED.count + 1) == (purse(card), result.count)
    assert world(env, [card]) == before


@BOTH
def test_a_bill_payment_pays_the_bills_and_the_property_ledger(onecard_env: OneCardEnv) -> None:
    env, kiosk, card = onecard_env, onecard_env.onecard, virtual(FUNDED)
    bill = env.bill(HOUSE)
    due, periods = bill["total_due_fen"], unpaid_periods(bill)
    assert 0 < due <= FUNDED.balance_fen
    before = world(env, [card])
    _, p, purse_ = kiosk.present(card)
    approved = kiosk.authorise("OC-B-1", FUNDED.uid, "bill", due, p.balance, p.info.count, house_no=HOUSE,
                               periods=periods)
    assert approved.json["result"] == "approved", approved.body
    result = kiosk.write(purse_, p, approved, "bill", due)
    assert kiosk.confirm("OC-B-1", FUNDED.uid, result.balance_after, result.count).status == 200
    assert env.bill(HOUSE)["total_due_fen"] == 0
    assert env.money()["onecard_ledger_fen"] == due
    assert env.card_row(FUNDED.uid).balance_fen == FUNDED.balance_fen - due == purse(card)
    assert world(env, [card]) == before


@BOTH
def test_a_torn_load_is_finished_at_the_next_presentation(onecard_env: OneCardEnv) -> None:
    env, kiosk, card = onecard_env, onecard_env.onecard, virtual(FUNDED)
    before = world(env, [card])
    _, p, purse_ = kiosk.present(card)
    approved = kiosk.authorise("OC-T-1", FUNDED.uid, "load", 1_000, p.balance, p.info.count)
    pull_at(card, 6, applied=True)       # step 3 (4 APDUs), LOAD KEY + AUTH of step 4; the increment applies
    with pytest.raises(CardTorn):
        kiosk.write(purse_, p, approved, "load", 1_000)
    assert env.txn("OC-T-1").state == "authorised"     # in doubt until the card is seen again
    reply, p2, _ = kiosk.present(card)           # recovered on the card (applied), then the host's ruling
    assert reply.json["result"] == "ok"
    assert reply.json["finish"] == {"txn_id": "OC-T-1", "kind": "load", "action": "confirm", "amount_fen": 1_000}
    assert kiosk.confirm("OC-T-1", FUNDED.uid, p2.balance, p2.info.count).status == 200
    assert env.card_row(FUNDED.uid).balance_fen == purse(card) == FUNDED.balance_fen + 1_000
    assert world(env, [card]) == before


@BOTH
def test_a_load_the_card_never_applied_is_cancelled_and_the_bank_repaid(onecard_env: OneCardEnv) -> None:
    env, kiosk, card = onecard_env, onecard_env.onecard, virtual(FUNDED)
    bank_before = env.account(GOOD.pan).balance_fen
    _, p, _ = kiosk.present(card)
    kiosk.authorise("OC-C-1", FUNDED.uid, "load", 2_000, p.balance, p.info.count)
    reply, _, _ = kiosk.present(card)           # nothing written: the card holds the figures from before
    assert reply.json["finish"]["action"] == "cancel"
    assert kiosk.cancel("OC-C-1").json["status"] == "cancelled"
    assert kiosk.cancel("OC-C-1").json["status"] == "already_cancelled"
    assert env.account(GOOD.pan).balance_fen == bank_before
    assert env.money()["onecard_bank_net_fen"] == 0


@BOTH
def test_a_black_flagged_card_still_completes_its_pending_operation(onecard_env: OneCardEnv) -> None:
    env, kiosk, card = onecard_env, onecard_env.onecard, virtual(FUNDED)
    _, p, purse_ = kiosk.present(card)
    approved = kiosk.authorise("OC-K-1", FUNDED.uid, "load", 700, p.balance, p.info.count)
    pull_at(card, 14, applied=True)    # torn at the record: the purse and backup hold the credit
    with pytest.raises(CardTorn):
        kiosk.write(purse_, p, approved, "load", 700)
    env.set_card(FUNDED.uid, black=True)       # listed meanwhile
    reply, p2, _ = kiosk.present(card)
    assert (reply.json["result"], reply.json["code"]) == ("refused", "blacklisted")
    assert reply.json["finish"]["action"] == "confirm"
    assert kiosk.confirm("OC-K-1", FUNDED.uid, p2.balance, p2.info.count).status == 200
    declined = kiosk.authorise("OC-K-2", FUNDED.uid, "load", 100, p2.balance, p2.info.count)
    assert declined.json["code"] == "card_blacklisted"


def test_the_demo_black_card_is_refused(onecard_env: OneCardEnv) -> None:
    reply, _, _ = onecard_env.onecard.present(virtual(BLACK))
    assert (reply.json["result"], reply.json["code"]) == ("refused", "blacklisted")


def test_sector_keys_never_cross_the_wire_in_clear(onecard_env: OneCardEnv) -> None:
    kiosk, card = onecard_env.onecard, virtual(FUNDED)
    _, p, purse_ = kiosk.present(card)
    approved = kiosk.authorise("OC-S-1", FUNDED.uid, "load", 300, p.balance, p.info.count)
    result = kiosk.write(purse_, p, approved, "load", 300)     # the delivered keys worked on the card
    kiosk.confirm("OC-S-1", FUNDED.uid, result.balance_after, result.count)
    bodies = b"".join(kiosk.bodies).upper()
    assert len(kiosk.bodies) == 8
    assert not [k for k in all_sector_keys_hex(FUNDED.uid) if k.encode() in bodies]


def test_a_presentation_never_gets_the_key_that_raises_a_purse(onecard_env: OneCardEnv) -> None:
    """The wallet's key B (increment) comes only with an authorised load: a
    credit tried with a presentation's keys is refused by the card itself."""
    kiosk, card = onecard_env.onecard, virtual(FUNDED)
    _, p, purse_ = kiosk.present(card)
    with pytest.raises(CardAuthRefused):
        purse_.credit(p, 100, TxnType.LOAD, TERMINAL, SEED_WHEN)
    assert purse(card) == FUNDED.balance_fen          # nothing credited
    reply, p2, _ = kiosk.present(card)                 # its flag 01 is cleared as "not applied"
    assert reply.json["result"] == "ok" and p2.balance == FUNDED.balance_fen


def test_replayed_and_forged_messages_are_refused(onecard_env: OneCardEnv) -> None:
    signer = onecard_env.kiosk
    raw = signer.body({"uid": FUNDED.uid})
    first = signer.send("/api/v1/onecard/keys", raw, signer.mak)
    assert first.status == 200
    again = signer.send("/api/v1/onecard/keys", raw, signer.mak)
    assert (again.status, again.json["error"]) == (409, "replay")
    forged = signer.send("/api/v1/onecard/keys", signer.body({"uid": FUNDED.uid}), signer.mak, mac="00" * 8)
    assert (forged.status, forged.json["error"]) == (401, "bad_mac")
    bad = signer.send("/api/v1/onecard/present", signer.body({"uid": "nothex!!"}), signer.mak)
    assert bad.status == 400 and bad.json["error"] == "bad_request"


def test_staff_list_the_one_cards_and_the_flagged_ones(onecard_env: OneCardEnv,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from host import cli
    onecard_env.onecard.present(virtual(ROLLED_BACK))
    db = onecard_env.engine.url.render_as_string(hide_password=False)
    assert cli.onecard(onecard_env.settings.source, "list", db_override=db) == 0
    assert cli.onecard(onecard_env.settings.source, "flags", db_override=db) == 0
    out = capsys.readouterr().out
    assert f"{ROLLED_BACK.uid}     20003  2-2-902     active    no          80.00      6        0  赵敏" in out
    assert "3 one-cards" in out and "1 one-cards flagged for staff" in out
    assert f"{ROLLED_BACK.uid}  KIOSK-TEST-01     mirror_mismatch   card 12000 fen after 5, mirror 8000 fen after 6" in out
