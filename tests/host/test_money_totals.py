"""money_totals (host/bank/journal.py) without `bank_txns` (dropped in revision
0006): a database older than the bank link keeps its JSON-era bill payments in
`bank_journal` (`sale`, `reversal`), and the totals still count them to the fen
beside the link's purchases: a sale not reversed is captured and its bill paid
by card; a reversed one is neither."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import insert, select, update

from host.bank import money_totals
from host.db import make_engine, write_transaction
from host.schema.bank import bank_journal
from host.schema.estate import bills
from tests.support.databases import BACKENDS
from tests.support.host_env import SEED_TODAY

pytestmark = pytest.mark.backends(*BACKENDS)
AT = datetime(2026, 11, 20, 9, 30)


def _line(txn_id: str, type_: str, result: str, fen: int, reference: str) -> dict[str, object]:
    return {"business_day": SEED_TODAY, "at": AT, "kiosk_id": "KIOSK-TEST-01", "txn_id": txn_id, "type": type_,
            "result": result, "code": None, "masked_pan": "622202******0017", "amount_fen": fen,
            "reference": reference, "auth_code": None}


def test_json_era_sales_still_count_after_bank_txns_is_gone(bank_url: str) -> None:
    engine = make_engine(bank_url)
    try:
        with engine.connect() as conn:
            before = money_totals(conn)
            kept, undone = conn.execute(select(bills.c.id, bills.c.amount_fen).where(bills.c.paid_at.is_(None))
                                        .order_by(bills.c.id).limit(2)).all()
        with write_transaction(engine) as conn:
            conn.execute(insert(bank_journal), [
                _line("JSON-1", "sale", "approved", kept.amount_fen, "261120000001"),
                _line("JSON-2", "sale", "approved", undone.amount_fen, "261120000002"),
                _line("JSON-2", "reversal", "reversed", undone.amount_fen, "261120000002")])
            for bill, ref in ((kept, "261120000001"), (undone, "261120000002")):
                conn.execute(update(bills).where(bills.c.id == bill.id).values(paid_at=AT, paid_ref=ref))
        with engine.connect() as conn:
            after = money_totals(conn)
    finally:
        engine.dispose()
    assert after["journal_net_fen"] - before["journal_net_fen"] == kept.amount_fen
    assert after["bills_paid_by_card_fen"] - before["bills_paid_by_card_fen"] == kept.amount_fen
    assert after["bills_paid_fen"] - before["bills_paid_fen"] == kept.amount_fen + undone.amount_fen
