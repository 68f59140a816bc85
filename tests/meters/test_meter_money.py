"""Meter sales in the host's money totals (host.bank.journal.money_totals): a
sale paid by bank card, one reversed with proof, and one paid from the IC
wallet move money out of the bank or the wallet into the utilities' takings,
and every invariant holds to the fen (tests/support/card_centre.check_money)."""
from __future__ import annotations

import pytest

from tests.support.card_centre import check_money
from tests.support.databases import BACKENDS
from common.meter_card import Utility
from tests.support.meter_host import WATER, MeterEnv, new_card

pytestmark = pytest.mark.backends(*BACKENDS)


def test_bank_card_sales_and_a_reversal_add_up_to_the_fen(vending: MeterEnv) -> None:
    before = vending.totals()
    sold = vending.meters.buy(new_card(), "MM-1", 10000)["amount_fen"]
    card = new_card(WATER, Utility.WATER)          # the other meter: the first has a sale not yet taken
    quote = vending.meters.check(card, quantity=500, sale_id="MM-2")["quote"]
    assert vending.meters.authorise("MM-2", quote["amount_fen"]).json["result"] == "approved"
    middle = vending.totals()
    check_money(before, middle)
    assert middle["meter_bank_net_fen"] - before["meter_bank_net_fen"] == sold + quote["amount_fen"]
    assert middle["bank_balances_fen"] - before["bank_balances_fen"] == -(sold + quote["amount_fen"])
    assert middle["meter_sales_fen"] - before["meter_sales_fen"] == sold + quote["amount_fen"]
    assert vending.meters.post("cancel", {"sale_id": "MM-2", "reason": "left"}).json["status"] == "reversed"
    after = vending.totals()
    check_money(before, after)
    assert after["meter_bank_net_fen"] - before["meter_bank_net_fen"] == sold
    assert after["bank_balances_fen"] - before["bank_balances_fen"] == -sold


def test_a_wallet_paid_sale_adds_up_to_the_fen(vending: MeterEnv) -> None:
    from common.epurse import Wallet
    from tests.support.card_centre import LI, WHEN, CardKiosk, SimCard, hex_
    centre, purse, card = CardKiosk(vending.meters.signer), SimCard.of(LI), new_card()
    before = vending.totals()
    quote = vending.meters.check(card, quantity=10000, sale_id="MW-1")["quote"]
    init = purse.init_purchase(Wallet.ED, quote["amount_fen"])
    fields = centre.purchase_fields("MWP-1", purse, Wallet.ED, "", [], quote["amount_fen"], init, 1)
    del fields["house_no"], fields["periods"]
    answer = centre.post("purchase/authorise", {**fields, "meter_sale": "MW-1"})
    assert answer.status == 200 and answer.json["result"] == "approved", answer.body
    tac, mac2 = purse.debit_purchase(1, WHEN, bytes.fromhex(answer.json["mac1"]))
    done = centre.post("purchase/confirm", {"txn_id": "MWP-1", "tac": hex_(tac), "mac2": hex_(mac2)})
    assert done.json["status"] == "completed"
    after = vending.totals()
    check_money(before, after)
    assert after["meter_wallet_fen"] - before["meter_wallet_fen"] == quote["amount_fen"]
    assert after["cards_fen"] - before["cards_fen"] == -quote["amount_fen"]
    assert after["meter_sales_fen"] - before["meter_sales_fen"] == quote["amount_fen"]
    assert after["meter_bank_net_fen"] == before["meter_bank_net_fen"]
