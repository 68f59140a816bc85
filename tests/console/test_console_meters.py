"""Prepaid meter sales and cards on the console (docs/console.md "Prepaid
meters"): the sales in the transaction search and its CSV, the day's totals by
utility, the reconciliation of bank-card sales against the bank journal's
meter_sale / meter_reversal lines, and report-lost / reissue on the meter page
(operator, audited, CSRF). The sales are written as host.meters.sales writes
them (meter_sales rows and bank_journal lines) straight into the day's
database: the vending flow itself is tested in tests/meters. SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from common.meter_card import Purchase
from host.bank.journal import write_line
from host.console.reconciliation import reconcile
from host.schema.bank import bank_journal
from host.schema.estate import households
from host.schema.meters import meter_sales, prepaid_meters
from tests.support.clocks import TODAY
from tests.support.console_env import ConsoleHost
from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)

ELEC, ELEC2, WATER = "310100012345", "310100012346", "320100054321"
AT = datetime(2026, 11, 21, 9, 15, 0)


def _sale(host: ConsoleHost, sale_id: str, meter: str, *, quantity: int, amount: int, state: str = "confirmed",
          kiosk: str = "KIOSK-A", wallet: bool = False, day: date = TODAY, line: bool = True,
          count: int = 1) -> None:
    """A paid sale as host.meters.sales leaves it, with its bank journal line(s) when paid by bank card."""
    reference = f"M{day:%y%m%d}{abs(hash(sale_id)) % 100_000:05d}"
    at = datetime.combine(day, AT.time())
    with host.engine.begin() as conn:
        household = conn.execute(select(prepaid_meters.c.household_id)
                                 .where(prepaid_meters.c.meter_no == meter)).scalar_one()
        conn.execute(insert(meter_sales).values(
            sale_id=sale_id, kiosk_id=kiosk, meter_no=meter, household_id=household, count=count,
            quantity=quantity, total=quantity, year=day.year, lines="[]", amount_fen=amount, state=state,
            image="00" * 20, account_id=None if wallet else _account(conn),
            masked_pan=None if wallet else "622202*********0017", reference=reference, business_day=day,
            quoted_at=at, paid_at=at, reversed_at=at if state == "reversed" else None))
        if state != "reversed":       # mark_paid moves the meter's last count to the sale
            conn.execute(update(prepaid_meters).where(prepaid_meters.c.meter_no == meter)
                         .values(last_count=count, last_total=quantity))
        if line and not wallet:
            write_line(conn, day=day, at=at, kiosk_id=kiosk, txn_id=sale_id, type_="meter_sale", result="approved",
                       code=None, masked_pan="622202*********0017", amount_fen=amount, reference=reference,
                       auth_code=None)
            if state == "reversed":
                write_line(conn, day=day, at=at, kiosk_id=kiosk, txn_id=sale_id, type_="meter_reversal",
                           result="reversed", code="card removed", masked_pan="622202*********0017",
                           amount_fen=amount, reference=reference, auth_code=None)


def _account(conn: Any) -> int:
    from host.schema.bank import bank_accounts
    return int(conn.execute(select(bank_accounts.c.id).order_by(bank_accounts.c.id).limit(1)).scalar_one())


@pytest.fixture
def meter_day(console_host: ConsoleHost) -> ConsoleHost:
    """Today: two electricity sales (one by the IC wallet), a water sale reversed
    after its debit, a bank decline (no sale paid); yesterday: one more electricity sale."""
    h = console_host
    _sale(h, "MS-OLD", ELEC, quantity=2_000, amount=1_076, day=TODAY - timedelta(days=1))
    _sale(h, "MS-ELEC-1", ELEC, quantity=5_000, amount=2_690, count=2)
    _sale(h, "MS-ELEC-2", ELEC2, quantity=10_000, amount=5_380, state="written", kiosk="KIOSK-B", wallet=True)
    _sale(h, "MS-WATER-1", WATER, quantity=1_000, amount=3_500, state="reversed", kiosk="KIOSK-B")
    with h.engine.begin() as conn:
        write_line(conn, day=TODAY, at=AT, kiosk_id="KIOSK-A", txn_id="MS-DECLINED", type_="meter_sale",
                   result="declined", code="insufficient_funds", masked_pan="622202*********0017",
                   amount_fen=999, reference=None, auth_code=None)
    return h


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_the_search_finds_meter_sales_by_meter_house_and_days(meter_day: ConsoleHost) -> None:
    look = meter_day.staff("look")
    page = look.get("/console/transactions").text
    assert 'id="sale-MS-ELEC-1"' in page and 'id="sale-MS-WATER-1"' in page and 'id="sale-MS-ELEC-2"' in page
    assert "MS-OLD" not in page                          # yesterday's: not in today's search
    assert ">50.00<" in page and "¥26.90" in page        # quantity in units, amount in yuan
    by_meter = look.get("/console/transactions", params={"meter": ELEC, "from": "", "to": ""}).text
    assert 'id="sale-MS-ELEC-1"' in by_meter and 'id="sale-MS-OLD"' in by_meter
    assert "MS-ELEC-2" not in by_meter and "MS-WATER-1" not in by_meter
    with meter_day.engine.connect() as conn:
        house = conn.execute(select(households.c.house_no).join(prepaid_meters)
                             .where(prepaid_meters.c.meter_no == ELEC2)).scalar_one()
    by_house = look.get("/console/transactions", params={"house": house}).text
    assert 'id="sale-MS-ELEC-2"' in by_house and "MS-ELEC-1" not in by_house
    assert "MS-DECLINED" not in page                     # a decline sold nothing


def test_a_bad_meter_number_is_a_clear_400(meter_day: ConsoleHost) -> None:
    look = meter_day.staff("look")
    for path in ("/console/transactions", "/console/meter-sales.csv"):
        answer = look.get(path, params={"meter": "31010001234X"})
        assert answer.status_code == 400, (path, answer.status_code)


def test_the_day_totals_by_utility(meter_day: ConsoleHost) -> None:
    page = meter_day.staff("look").get("/console/transactions").text
    elec = page.split('id="meter-total-electricity"')[1].split("</tr>")[0]
    water = page.split('id="meter-total-water"')[1].split("</tr>")[0]
    assert all(cell in elec for cell in (">2<", ">150.00<", "¥80.70", ">0 · ¥0.00<")), elec
    assert ">0<" in water and "1 · ¥35.00" in water          # reversed: not sold, shown apart
    assert 'id="meter-total-gas"' not in page


def test_the_meter_sales_csv_is_formula_safe_and_audited(meter_day: ConsoleHost) -> None:
    _sale(meter_day, "=HYPERLINK(\"x\")", ELEC, quantity=100, amount=54, kiosk="@KIOSK")
    answer = meter_day.staff("look").get("/console/meter-sales.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = _csv(answer.text)
    assert rows[0][:9] == ["at", "business_day", "kiosk_id", "sale_id", "meter_no", "utility", "house_no", "count",
                           "quantity"]
    sales = {r[3]: r for r in rows[1:] if len(r) > 3 and r[1] == TODAY.isoformat()}
    assert sales["MS-ELEC-1"][8:12] == ["50.00", "2690", "26.90", "confirmed"]
    assert "'=HYPERLINK(\"x\")" in sales and sales["'=HYPERLINK(\"x\")"][2] == "'@KIOSK"
    totals = rows[rows.index(["utility", "count", "quantity", "amount_fen", "amount_yuan", "reversed_count",
                              "reversed_fen"]) + 1:]
    assert ["water", "0", "0.00", "0", "0.00", "1", "3500"] in totals
    assert meter_day.audit("export")[0].target == "meter-sales.csv"


def test_a_consistent_day_reconciles_its_meter_sales(meter_day: ConsoleHost) -> None:
    rec = reconcile(meter_day.engine, TODAY)
    m = rec.meters
    assert not m.differences, m.differences
    assert (m.sales.count, m.sales.sold_fen, m.sales.reversed_fen) == (2, 2_690 + 3_500, 3_500)
    assert (m.bank.count, m.bank.sold_fen, m.bank.reversed_fen) == (3, 2_690 + 3_500, 3_500)
    page = meter_day.staff("look").get("/console/reconciliation", params={"day": TODAY.isoformat()}).text
    assert 'id="meters-meter_sales"' in page and 'id="meter-differences"' not in page


def test_each_meter_difference_is_found(meter_day: ConsoleHost) -> None:
    h = meter_day
    _sale(h, "MS-NOLINE", WATER, quantity=100, amount=350, line=False)               # the bank never debited
    with h.engine.begin() as conn:
        conn.execute(delete(bank_journal).where(bank_journal.c.txn_id == "MS-WATER-1",
                                                bank_journal.c.type == "meter_reversal"))   # never credited back
        write_line(conn, day=TODAY, at=AT, kiosk_id="KIOSK-C", txn_id="MS-GHOST", type_="meter_sale",
                   result="approved", code=None, masked_pan=None, amount_fen=700, reference="M000000", auth_code=None)
        conn.execute(update(bank_journal).where(bank_journal.c.txn_id == "MS-ELEC-1")
                     .values(reference="MWRONG"))
    found = {(d.kind, d.sale_id) for d in reconcile(h.engine, TODAY).meters.differences}
    assert found == {("missing_in_bank", "MS-NOLINE"), ("amount_differs", "MS-WATER-1"),
                     ("bank_without_sale", "MS-GHOST"), ("reference_differs", "MS-ELEC-1")}
    page = h.staff("look").get("/console/reconciliation", params={"day": TODAY.isoformat()}).text
    assert 'id="meter-differences"' in page and page.count('class="diff-') >= 4
    rec = reconcile(h.engine, TODAY)
    assert rec.difference_count == len(rec.differences) + len(rec.wallet.differences) + 4 and not rec.balanced
    day = h.staff("look").get("/console/reconciliation").text.split('<li class="on">')[1].split("</li>")[0]
    assert f"{rec.difference_count} 处差异" in day           # the day's badge counts them


def _card_state(host: ConsoleHost, meter: str) -> str:
    with host.engine.connect() as conn:
        return str(conn.execute(select(prepaid_meters.c.card_state)
                                .where(prepaid_meters.c.meter_no == meter)).scalar_one())


def test_an_operator_reports_a_card_lost_and_reissues_it(meter_day: ConsoleHost) -> None:
    duty = meter_day.staff("duty")
    assert f'id="meter-{ELEC}"' in duty.get("/console/meters").text
    lost = duty.post(f"/console/meters/{ELEC}/report-lost")
    assert lost.status_code == 200 and 'id="meter-done"' in lost.text
    assert _card_state(meter_day, ELEC) == "lost"
    made = duty.post(f"/console/meters/{ELEC}/reissue")
    assert made.status_code == 200 and 'id="meter-image"' in made.text
    image = made.text.split('id="meter-image">EF 01 ')[1].split("<")[0]
    card = Purchase.decode(bytes.fromhex(image))       # the last sale's count and total, signed
    assert (card.meter, card.count, card.quantity, card.total) == (ELEC, 2, 5_000, 5_000)
    assert _card_state(meter_day, ELEC) == "reissued"
    assert [(e.action, e.target, e.username) for e in meter_day.audit("meter_card_lost")] == [
        ("meter_card_lost", ELEC, "duty")]
    assert '"count": 2' in meter_day.audit("meter_card_reissued")[0].detail


def test_reissue_waits_for_a_sale_awaiting_its_write(meter_day: ConsoleHost) -> None:
    answer = meter_day.staff("duty").post(f"/console/meters/{ELEC2}/reissue")     # MS-ELEC-2 is written
    assert answer.status_code == 409 and 'id="meter-error"' in answer.text
    assert _card_state(meter_day, ELEC2) == "active" and not meter_day.audit("meter_card_reissued")


def test_card_actions_need_an_operator_and_the_csrf_token(meter_day: ConsoleHost) -> None:
    look, duty = meter_day.staff("look"), meter_day.staff("duty")
    assert look.post(f"/console/meters/{ELEC}/report-lost").status_code == 403
    assert duty.post(f"/console/meters/{ELEC}/report-lost", csrf=False).status_code == 403
    assert duty.post("/console/meters/12345/report-lost").status_code == 400
    assert duty.post("/console/meters/999999999999/reissue").status_code == 404
    assert _card_state(meter_day, ELEC) == "active" and not meter_day.audit("meter_card_lost")
    assert "report-lost" not in look.get("/console/meters").text      # a viewer sees no buttons
