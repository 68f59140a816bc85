"""Prepaid meters end to end (docs/meters.md "The kiosk"): the kiosk's meter
service, the real pyscard adapter through the session's pcscd and vpcd to the
virtual meter user card, the bank card on the simulated reader and PIN pad,
the real host (demo config: its [meters] and demo meters) over loopback, and
the simulated meter taking the card afterwards.

Conserved, to the fen and to 0.01 unit: bank balances + the host's paid meter
sales; units on the card (total purchased) = units the meter took."""
from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from common.clock import ManualClock
from common.meter_card import Purchase, Utility
from common.money import Money
from kiosk.devices.sim.meter import Outcome, SimulatedMeter
from kiosk.devices.sim.meter_card import VirtualMeterCard
from kiosk.domain.errors import CardTorn, MeterCardTorn, MeterNotApplied, MeterOverLimit
from tests.support.payments import GOOD, enter_pin, swipe
from tests.support.wallets import until

METER = "310100012345"       # electricity, 1-1-101 (host.meters.store.DEMO_METERS)


def _sales_fen(host) -> int:   # type: ignore[no-untyped-def]
    return int(host.query("SELECT COALESCE(SUM(amount_fen), 0) FROM meter_sales "
                          "WHERE state IN ('paid', 'written', 'confirmed')")[0][0])


def _money(host) -> int:   # type: ignore[no-untyped-def]
    return host.balance(GOOD.pan) + _sales_fen(host)


async def _insert(wk, card: VirtualMeterCard) -> None:   # type: ignore[no-untyped-def]
    reader = wk.wallet.cards.reader("contact")
    await until(lambda: not reader.card_present(), what="contact reader empty first")
    await asyncio.to_thread(wk.sims.ic_slots["contact"].insert, card)
    await until(reader.card_present, what="pcscd to see the meter card")


async def _remove(wk) -> None:   # type: ignore[no-untyped-def]
    reader = wk.wallet.cards.reader("contact")
    await asyncio.to_thread(wk.sims.ic_slots["contact"].remove)
    await until(lambda: not reader.card_present(), what="contact reader empty")


async def _bank_card(wk):   # type: ignore[no-untyped-def]
    swiped = await swipe(wk, GOOD.track2)
    return swiped, await enter_pin(wk, swiped, GOOD.pin, checked_by="card_centre")   # the vending host checks it


def _meter() -> SimulatedMeter:
    return SimulatedMeter.create(METER, Utility.ELECTRICITY, maximum=200000, low_credit=5000,
                                 clock=ManualClock(datetime(2026, 11, 21, 18, 0)))


@pytest.fixture
async def meter_card(wk):   # type: ignore[no-untyped-def]
    card = VirtualMeterCard.create(None, meter=METER, utility=Utility.ELECTRICITY)
    await _insert(wk, card)
    yield card
    await _remove(wk)


async def test_a_purchase_by_bank_card_then_the_meter_applies_it_and_not_before(wk, host, meter_card):
    money = _money(host)
    view = await wk.meters.read("contact", meter=METER)
    assert (view.meter, view.house_no, view.count, view.applied, view.refusal) == (METER, "1-1-101", 0, True, None)
    quote = await wk.meters.quote(view, quantity=10000)
    assert quote.amount == Money(4883) and [line["tier"] for line in quote.lines] == [1]
    swiped, block = await _bank_card(wk)
    outcome = await wk.meters.pay_by_bank_card(quote, swiped, block)
    assert outcome.approved and outcome.confirmed and outcome.count == 1
    assert Purchase.decode(meter_card.ef01()).count == 1
    assert wk.journal.meter_sale(outcome.sale_id).state == "confirmed"
    assert _money(host) == money and _sales_fen(host) == 4883
    receipt = "\n".join(wk.meters.receipt_for(outcome.sale_id).lines())
    assert "100.00 kWh" in receipt and "0.4883" in receipt and "48.83" in receipt and "购买次数: 1" in receipt

    again = await wk.meters.read("contact")                       # no second purchase before the meter
    assert again.refusal == "not_applied" and not again.applied
    with pytest.raises(MeterNotApplied):
        await wk.meters.quote(again, quantity=100)
    await _remove(wk)
    meter = _meter()
    assert meter.take(meter_card).outcome is Outcome.APPLIED and meter.state.remaining == 10000
    await _insert(wk, meter_card)
    after = await wk.meters.read("contact")
    assert after.applied and after.remaining == 10000 and after.refusal is None
    with pytest.raises(MeterOverLimit):                           # the hoarding limit: 2000 kWh
        await wk.meters.quote(after, quantity=190001)


# the write's APDUs after the SELECT: 0 EF 01 read, 1 GET CHALLENGE, 2 the secure write, 3 EF 01 read back
@pytest.mark.parametrize("applied", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("step", [0, 1, 2, 3], ids=["read", "challenge", "write", "read-back"])
async def test_a_tear_at_every_apdu_of_the_write_conserves_units_and_money(wk, host, meter_card, step, applied):
    money = _money(host)
    view = await wk.meters.read("contact", meter=METER)
    quote = await wk.meters.quote(view, quantity=5000)
    swiped, block = await _bank_card(wk)
    seen, armed = 0, True

    def pull(apdu: bytes) -> str | None:
        nonlocal seen
        if apdu[:2] == b"\x00\xa4":   # each session selects first: count the write's own APDUs
            seen = 0
            return None
        seen += 1
        return ("after" if applied else "before") if armed and seen == step + 1 else None
    # the pull is armed for the write session only (authorise has been answered by then)
    original = wk.meters._finish

    async def finish_with_pull(*args, **kw):   # type: ignore[no-untyped-def]
        meter_card.fault = pull
        try:
            return await original(*args, **kw)
        finally:
            meter_card.fault = None
    wk.meters._finish = finish_with_pull
    with pytest.raises(CardTorn) as torn:
        await wk.meters.pay_by_bank_card(quote, swiped, block)
    wk.meters._finish = original
    assert isinstance(torn.value, MeterCardTorn)
    sale = torn.value
    assert sale is not None
    entry = wk.journal.meter_sales_in("torn")[0]
    await _remove(wk)
    await _insert(wk, meter_card)                                 # the card is back: the next read settles it
    view = await wk.meters.read("contact", meter=METER)   # a first sale: a blank EF 01 names no meter
    assert view.count == 1 and view.resolved in (entry.sale_id, None)
    assert host.query("SELECT state FROM meter_sales WHERE sale_id = :s", s=entry.sale_id)[0][0] == "confirmed"
    meter = _meter()
    assert meter.take(meter_card).added == 5000 and meter.take(meter_card).added == 0     # once
    assert _money(host) == money and _sales_fen(host) == quote.amount.fen
    assert Purchase.decode(meter_card.ef01()).total == meter.state.remaining == 5000


async def test_a_resident_who_leaves_after_a_tear_gets_the_money_back_when_the_card_lacks_it(wk, host, meter_card):
    money = _money(host)
    view = await wk.meters.read("contact", meter=METER)
    quote = await wk.meters.quote(view, quantity=5000)
    swiped, block = await _bank_card(wk)
    meter_card.fault = lambda apdu: "before" if apdu[:1] == b"\x04" else None   # pulled as the write goes out
    with pytest.raises(MeterCardTorn):
        await wk.meters.pay_by_bank_card(quote, swiped, block)
    meter_card.fault = None
    await _remove(wk)
    await _insert(wk, meter_card)
    await wk.meters.abandon(quote.sale_id, "contact")
    assert wk.journal.meter_sale(quote.sale_id).state == "cancelled"
    assert _sales_fen(host) == 0 and _money(host) == money       # the money is back on the bank card
    assert Purchase.decode(meter_card.ef01()).blank               # and no units anywhere
    assert (await wk.meters.read("contact", meter=METER)).refusal is None


async def test_a_purchase_paid_from_the_ic_wallet(wk, host, meter_card):
    from common.epurse import Wallet
    from tests.support.wallets import LI, card as ic_card, insert as insert_ic, remove as remove_ic
    view = await wk.meters.read("contact", meter=METER)
    quote = await wk.meters.quote(view, quantity=3000)              # 30.00 kWh: 14.65 yuan
    await insert_ic(wk, LI.serial, "contactless")
    purse = await wk.wallet.present("contactless")

    async def pay(sale_id, amount, house_no, items):   # type: ignore[no-untyped-def]
        return await wk.wallet.pay_meter(purse, Wallet.EP, sale_id, amount, house_no, items)
    outcome = await wk.meters.pay_by_wallet(quote, pay)
    await remove_ic(wk, "contactless")
    assert outcome.approved and outcome.confirmed and quote.amount == Money(1465)
    assert ic_card(wk, LI.serial).balance(Wallet.EP) == LI.ep_balance.fen - 1465     # the wallet paid, to the fen
    assert host.query("SELECT state, reference FROM meter_sales WHERE sale_id = :s", s=quote.sale_id)[0] == \
        ("confirmed", outcome.reference)
    meter = _meter()
    assert meter.take(meter_card).added == 3000 == Purchase.decode(meter_card.ef01()).total


async def test_a_lost_card_is_refused_with_its_own_message(wk, host, meter_card):
    from sqlalchemy import text

    from kiosk.domain.errors import MeterCardLost
    from kiosk.i18n import tr
    with host.engine.begin() as conn:
        conn.execute(text("UPDATE prepaid_meters SET card_state = 'lost' WHERE meter_no = :m"), {"m": METER})
    with pytest.raises(MeterCardLost) as lost:
        await wk.meters.read("contact", meter=METER)
    assert "挂失" in tr(lost.value.message_key, "zh") and "lost" in tr(lost.value.message_key, "en")


async def test_another_meters_card_put_in_before_the_write_gets_nothing_and_the_money_goes_back(
        wk, host, meter_card):
    from kiosk.domain.errors import MeterMacInvalid
    money = _money(host)
    view = await wk.meters.read("contact", meter=METER)
    quote = await wk.meters.quote(view, quantity=1000)
    await _remove(wk)
    other = VirtualMeterCard.create(None, meter="320100054321", utility=Utility.WATER)   # swapped in, blank too
    await _insert(wk, other)
    swiped, block = await _bank_card(wk)
    with pytest.raises(MeterMacInvalid):     # its own UK: it refuses the MAC made for ours, writes nothing
        await wk.meters.pay_by_bank_card(quote, swiped, block)
    assert wk.journal.meter_sale(quote.sale_id).state == "cancelled"
    assert _money(host) == money and _sales_fen(host) == 0 and Purchase.decode(other.ef01()).blank
    await _remove(wk)
    await _insert(wk, meter_card)                                  # the fixture takes its own card out
