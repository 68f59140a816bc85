"""Prepaid meter vending in the real host, through the signed channel, with the
virtual meter card written by the kiosk's terminal and taken by the simulated
meter: a sale end to end, the vending rule, tears at every APDU of the write
settled at another kiosk, lost and reissued cards, bad MACs, forged messages.
Money and units are conserved: bank + host sales, card + meter."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from common.meter_card import MeterReturn, Purchase, Utility
from common.meter_keys import DEMO_METER_MASTERS, sign_purchase, write_mac
from host.db import write_transaction
from host.meters.store import reissue, set_card_state
from host.schema.bank import bank_journal
from kiosk.devices.sim.meter import Outcome
from kiosk.domain.errors import CardRemoved, CardTorn
from tests.support.databases import BACKENDS
from tests.support.meter_host import METER, WATER, MeterEnv, new_card, new_meter

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL


def test_a_sale_end_to_end_then_the_meter_takes_it_and_not_before(vending: MeterEnv) -> None:
    card, meter = new_card(), new_meter()
    money = vending.bank_fen() + vending.sales_fen()
    first = vending.meters.check(card)
    assert first["result"] == "ok" and first["house_no"] == "1-1-101" and first["applied"] is True
    assert (first["count"], first["remaining"], first["hoarding_max"]) == (0, 0, 200000)

    paid = vending.meters.buy(card, "S-1", 10000)                   # 100.00 kWh
    assert paid["count"] == 1 and paid["amount_fen"] == 4883 and paid["reference"].startswith("M261121")
    assert vending.sale("S-1").state == "confirmed"
    assert vending.bank_fen() + vending.sales_fen() == money and vending.sales_fen() == 4883

    again = vending.meters.check(card, quantity=100)                 # not yet in the meter
    assert (again["result"], again["code"], again["applied"]) == ("refused", "not_applied", False)
    taken = meter.take(card)
    assert (taken.outcome, taken.added) == (Outcome.APPLIED, 10000)
    after = vending.meters.check(card, quantity=100)
    assert after["result"] == "ok" and after["remaining"] == 10000 and after["applied"] is True
    # units: what was sold is in the meter
    assert meter.state.remaining == Purchase.decode(card.ef01()).total == 10000


def test_the_quote_applies_the_years_tiers_and_an_amount_buys_what_it_covers(vending: MeterEnv) -> None:
    card, meter = new_card(), new_meter()
    vending.meters.buy(card, "T-1", 190000)                          # 1,900 kWh in tier 1
    meter.take(card)
    meter.consume(190000)
    meter.take(card)                                                 # EF 02 now says 0 left
    quote = vending.meters.check(card, quantity=100000)["quote"]      # crosses 2,880 kWh
    assert [(x["tier"], x["quantity"]) for x in quote["lines"]] == [(1, 98000), (2, 2000)]
    assert quote["amount_fen"] == 47853 + 1077 and quote["bought_this_year"] == 190000
    by_amount = vending.meters.check(card, amount_fen=10000)["quote"]
    assert by_amount["amount_fen"] <= 10000 and by_amount["quantity"] == 20480   # 204.80 kWh: 100.0038 rounds to 100.00


def test_the_hoarding_limit(vending: MeterEnv) -> None:
    card, meter = new_card(WATER, Utility.WATER), new_meter(WATER, Utility.WATER)
    assert vending.meters.check(card, quantity=6001)["code"] == "over_hoarding_limit"
    vending.meters.buy(card, "H-1", 5000)
    meter.take(card)
    assert vending.meters.check(card, quantity=1001)["code"] == "over_hoarding_limit"
    assert vending.meters.check(card, quantity=1000)["result"] == "ok"


@pytest.mark.parametrize("applied", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("step", [0, 1, 2], ids=["challenge", "write", "read-back"])
def test_a_tear_is_settled_at_another_kiosk_by_the_count_on_the_card(vending: MeterEnv, step: int,
                                                                    applied: bool) -> None:
    card, meter = new_card(), new_meter()
    money = vending.bank_fen() + vending.sales_fen()
    quote = vending.meters.check(card, quantity=5000, sale_id="TEAR")
    paid = vending.meters.authorise("TEAR", quote["quote"]["amount_fen"]).json
    seen = 0

    def pull(apdu: bytes) -> str | None:
        nonlocal seen
        seen += 1
        return ("after" if applied else "before") if seen == step + 2 else None   # +1: the SELECT
    card.fault = pull
    with pytest.raises((CardRemoved, CardTorn)):
        vending.meters.write(card, "TEAR", paid["image"])
    card.fault = None
    written = card.ef01().hex().upper() == paid["image"]
    # the card at the other kiosk: written -> confirmed; not -> the same image again
    seen_there = vending.other.check(card)
    if written:
        assert (seen_there["result"], seen_there["code"]) == ("refused", "not_applied")   # now into the meter
        assert vending.sale("TEAR").state == "confirmed"
    else:
        assert seen_there["result"] == "pending" and seen_there["pending"]["image"] == paid["image"]
        vending.other.write(card, "TEAR", paid["image"])
        assert vending.other.post("confirm", {"sale_id": "TEAR", "ef01": card.ef01().hex()}).status == 200
    assert meter.take(card).added == 5000 and meter.take(card).added == 0   # once, never twice
    assert vending.bank_fen() + vending.sales_fen() == money and vending.sales_fen() == quote["quote"]["amount_fen"]
    assert meter.state.remaining == 5000 == vending.sale("TEAR").quantity


def test_a_sale_left_unwritten_is_reversed_only_with_proof(vending: MeterEnv) -> None:
    card = new_card()
    bank = vending.bank_fen()
    quote = vending.meters.check(card, quantity=5000, sale_id="R-1")
    vending.meters.authorise("R-1", quote["quote"]["amount_fen"])
    mac = vending.meters.post("sign-write", {"sale_id": "R-1", "challenge": "01020304"})    # handed out
    assert mac.status == 200
    refused = vending.meters.post("cancel", {"sale_id": "R-1", "reason": "resident left"})
    assert refused.status == 400                                       # written: EF 01 is required
    done = vending.meters.post("cancel", {"sale_id": "R-1", "ef01": card.ef01().hex(), "reason": "resident left"})
    assert done.json == {"sale_id": "R-1", "status": "reversed"} and vending.bank_fen() == bank
    assert vending.meters.post("sign-write", {"sale_id": "R-1", "challenge": "01020304"}).status == 409
    with vending.engine.connect() as conn:
        lines = conn.execute(select(bank_journal.c.type, bank_journal.c.result)
                             .where(bank_journal.c.txn_id == "R-1")).all()
    assert lines == [("meter_sale", "approved"), ("meter_reversal", "reversed")]
    assert vending.meters.check(card)["result"] == "ok"   # and the card sells again


def test_a_written_sale_cannot_be_reversed(vending: MeterEnv) -> None:
    card = new_card()
    vending.meters.buy(card, "W-1", 100)
    assert vending.meters.post("cancel", {"sale_id": "W-1", "ef01": card.ef01().hex()}).status == 409


def test_a_lost_card_is_refused_and_a_reissued_one_waits_for_the_meter(vending: MeterEnv) -> None:
    card, meter = new_card(), new_meter()
    vending.meters.buy(card, "L-1", 3000)
    meter.take(card)
    with write_transaction(vending.engine) as conn:
        set_card_state(conn, METER, "lost", datetime(2026, 11, 21, 11))
    assert vending.meters.check(card) == {"result": "refused", "code": "lost_card"}
    assert vending.settings.meters is not None
    with write_transaction(vending.engine) as conn:
        new = reissue(conn, METER, vending.settings.meters.keys, datetime(2026, 11, 21, 12))
    assert (new.image.count, new.image.total) == (1, 3000)
    second = new_card()
    challenge = second.process(bytes.fromhex("0084000004"))[:4]
    uk = DEMO_METER_MASTERS.for_meter(METER).uk
    image = new.image.encode()
    assert second.process(bytes.fromhex("04D6810018") + image + write_mac(uk, challenge, image)) == b"\x90\x00"
    assert vending.meters.check(second, quantity=100)["code"] == "not_applied"   # EF 02 blank: into the meter first
    assert meter.take(second).outcome is Outcome.ALREADY_APPLIED                 # no units twice
    assert vending.meters.check(second, quantity=100)["result"] == "ok"


def test_bad_macs_and_another_estates_meter_are_refused(vending: MeterEnv) -> None:
    card = new_card()
    vending.meters.buy(card, "M-1", 100)
    forged = Purchase.decode(card.ef01())
    bad01 = sign_purchase(bytes(16), forged).encode().hex()
    assert vending.meters.post("check", {"ef01": bad01, "ef02": card.ef02().hex()}).json["code"] == "bad_card_mac"
    ef02 = MeterReturn(remaining=1, cumulative=0, last_count=1, status=0, time=datetime(2026, 11, 21, 10),
                       mac=b"\x01\x02\x03\x04")
    reply = vending.meters.post("check", {"ef01": card.ef01().hex(), "ef02": ef02.encode().hex()})
    assert reply.json["code"] == "bad_card_mac"
    stranger = new_card("999900000001")
    assert vending.meters.check(stranger)["code"] == "foreign_meter"


def test_replayed_and_forged_messages_are_refused(vending: MeterEnv) -> None:
    card = new_card()
    fields = {"ef01": card.ef01().hex(), "ef02": card.ef02().hex(), "meter": METER}
    signer = vending.meters.signer
    raw = signer.body(fields)
    assert signer.send("/api/v1/meters/check", raw, signer.mak).status == 200
    assert signer.send("/api/v1/meters/check", raw, signer.mak).status == 409          # replay
    assert signer.send("/api/v1/meters/check", signer.body(fields), None, mac="00" * 8).status == 401
    assert vending.meters.post("check", {"ef01": "zz", "ef02": "00"}).status == 400


def test_staff_report_a_card_lost_and_reissue_it_from_the_cli(vending: MeterEnv,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from host import cli
    card = new_card()
    vending.meters.buy(card, "C-1", 2500)
    url = vending.engine.url.render_as_string(hide_password=False)
    assert cli.meter(vending.settings.source, "report-lost", METER, db_override=url) == 0
    assert vending.meters.check(card)["code"] == "lost_card"
    assert cli.meter(vending.settings.source, "reissue", METER, db_override=url) == 0
    out = capsys.readouterr().out
    image = Purchase.decode(bytes.fromhex(out.split("EF 01 = ")[1].split()[0]))
    assert (image.meter, image.count, image.total) == (METER, 1, 2500)
    assert cli.meter(vending.settings.source, "reissue", "123", db_override=url) == 1
    assert cli.meter(vending.settings.source, "list", db_override=url) == 0
    assert f"{METER}  electricity  1-1-101     reissued" in capsys.readouterr().out


def test_a_sale_paid_from_the_ic_wallet(vending: MeterEnv) -> None:
    from common.epurse import Wallet
    from tests.support.card_centre import LI, WHEN, CardKiosk, SimCard, hex_
    centre, purse, card, meter = CardKiosk(vending.meters.signer), SimCard.of(LI), new_card(), new_meter()
    quote = vending.meters.check(card, quantity=10000, sale_id="WM-1")["quote"]
    init = purse.init_purchase(Wallet.ED, quote["amount_fen"])
    fields = centre.purchase_fields("WP-1", purse, Wallet.ED, "", [], quote["amount_fen"], init, 1)
    del fields["house_no"], fields["periods"]
    too_early = vending.meters.post("authorise", {"sale_id": "WM-1", "amount_fen": quote["amount_fen"],
                                                  "wallet_txn_id": "WP-1"})
    assert too_early.json["result"] == "declined"
    answer = centre.post("purchase/authorise", {**fields, "meter_sale": "WM-1"})
    assert answer.status == 200 and answer.json["result"] == "approved", answer.body
    other = vending.meters.check(card, quantity=100, sale_id="WM-2")          # the meter is being paid for
    assert vending.meters.authorise("WM-2", other["quote"]["amount_fen"]).json["code"] == "quote_stale"
    tac, mac2 = purse.debit_purchase(1, WHEN, bytes.fromhex(answer.json["mac1"]))
    done = centre.post("purchase/confirm", {"txn_id": "WP-1", "tac": hex_(tac), "mac2": hex_(mac2)})
    assert done.json["status"] == "completed"
    paid = vending.meters.post("authorise", {"sale_id": "WM-1", "amount_fen": quote["amount_fen"],
                                             "wallet_txn_id": "WP-1"}).json
    assert paid["result"] == "approved" and paid["reference"] == done.json["reference"]
    assert vending.sale("WM-1").state == "paid" and vending.mirror_ed(LI.serial) == purse.ed
    assert vending.meters.post("cancel", {"sale_id": "WM-1"}).status == 409      # owed as units, never given back
    vending.meters.write(card, "WM-1", paid["image"])
    assert vending.meters.post("confirm", {"sale_id": "WM-1", "ef01": card.ef01().hex()}).status == 200
    assert meter.take(card).added == 10000
    assert LI.ed_balance.fen - purse.ed == quote["amount_fen"]                   # the wallet paid, to the fen
