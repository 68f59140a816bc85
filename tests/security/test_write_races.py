"""The write discipline under concurrent kiosk messages, as an attacker (or a
flaky network) would try it, on SQLite and on PostgreSQL (docs/security.md,
"Write discipline"; issue 12: message counters are atomic in the database):

- one signed message fired many times at once (a replay race): exactly one is
  accepted; the others are refused as replays; one ISO 8583 purchase frame
  fired many times at once: approved once, the card debited once, the others
  duplicates (94);
- a kiosk's first contact raced by many sign-ons: no 5xx (on PostgreSQL two
  transactions both inserting the kiosk's row would collide on its key);
- two kiosks paying and reversing over the bank link with the same card at
  once, while a third hammers the first kiosk's counter with replays: every
  purchase and reversal is answered 00 and every replay 409, never a 5xx or a
  malfunction (deadlocks and serialisation failures are retried inside the
  host), and the money adds up to the fen."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from host.billing import unpaid_periods
from host.schema.bank import bank_accounts, kiosks, property_backups
from host.schema.estate import households
from tests.support.databases import BACKENDS
from common.bank8583 import fields as fld
from common.bank8583.codec import Message
from common.bank8583.wire import build, parse
from tests.support.bank8583 import HEADER, REQUEST_TPDU, Terminal
from tests.support.host_env import BankEnv, GOOD, OTHER_KIOSK, OTHER_TMK, TEST_KIOSK, TEST_TMK
from tests.support.linked_host import Linked, linked_fixture  # noqa: F401  (the `linked` fixture)
from tests.support.signing import KioskSigner, SignedReply

BACKUP = "/api/v1/property/transactions"

pytestmark = pytest.mark.backends(*BACKENDS)


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, released together; their results in order."""
    ready = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(n: int) -> None:
        ready.wait()
        try:
            results[n] = calls[n]()
        except Exception as exc:  # noqa: BLE001 - a failed request is a result here
            results[n] = exc
    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _unpaid_houses(bank: BankEnv, count: int) -> list[tuple[str, int, list[str]]]:
    found = []
    with bank.engine.connect() as conn:
        for house in conn.execute(select(households.c.house_no).order_by(households.c.id)).scalars():
            bill = bank.bill(house)
            if bill["total_due_fen"] > 0:
                found.append((house, bill["total_due_fen"], unpaid_periods(bill)))
            if len(found) == count:
                return found
    raise AssertionError("not enough unpaid bills")


def _rich_card(bank: BankEnv) -> None:
    with bank.engine.begin() as conn:
        conn.execute(update(bank_accounts).where(bank_accounts.c.id == bank.account(GOOD.pan).id)
                     .values(balance_fen=10 ** 10, daily_limit_fen=10 ** 10))


def test_one_counter_fired_eight_times_at_once_is_accepted_once(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    assert kiosk.sign_on().status == 200
    raw = kiosk.body({"txn": {"txn_id": "KIOSK-TEST-01-RACE-000001", "house_no": "3-2-1202", "amount_fen": 1}})
    senders = [KioskSigner(bank.url, TEST_KIOSK, TEST_TMK) for _ in range(8)]
    try:
        replies: list[SignedReply] = _at_once([lambda s=s: s.send(BACKUP, raw, kiosk.mak) for s in senders])
    finally:
        for sender in senders:
            sender.close()
    statuses = sorted(r.status for r in replies)
    assert statuses == [200] + [409] * 7, statuses
    assert all(r.mac_ok for r in replies)
    with bank.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(property_backups)).scalar_one() == 1


def test_one_purchase_frame_fired_eight_times_at_once_debits_once(linked: Linked) -> None:
    bank, _, (terminal, _) = linked
    _rich_card(bank)
    (house, amount, periods), = _unpaid_houses(bank, 1)
    frame = build(REQUEST_TPDU, HEADER, Message("0200", dict(sorted({
        3: "000000", 4: f"{amount:012d}", 11: terminal.next_stan(), 41: terminal.terminal_id, 42: terminal.merchant,
        **terminal.card_fields(GOOD.track2, GOOD.pin, GOOD.pan), 60: terminal.field60(fld.TYPE_PURCHASE),
        63: f"H={house};P={','.join(periods)}"}.items()))), terminal.keys.mak)
    replies = _at_once([lambda: parse(terminal.send_raw(frame)).message.fields[39] for _ in range(8)])
    assert sorted(replies) == ["00"] + ["94"] * 7, replies      # the same STAN again: a duplicate
    assert bank.account(GOOD.pan).balance_fen == 10 ** 10 - amount


def test_a_kiosks_first_contact_raced_never_fails(bank: BankEnv) -> None:
    with bank.engine.begin() as conn:             # as on a new site: the kiosk has never talked to the host
        conn.execute(delete(kiosks).where(kiosks.c.kiosk_id == OTHER_KIOSK))
    signers = [KioskSigner(bank.url, OTHER_KIOSK, OTHER_TMK, counter=n) for n in range(8)]
    try:
        replies = _at_once([s.sign_on for s in signers])
    finally:
        for signer in signers:
            signer.close()
    assert all(isinstance(r, SignedReply) for r in replies), replies
    statuses = [r.status for r in replies]
    assert all(s in (200, 409) for s in statuses) and 200 in statuses, statuses
    with bank.engine.connect() as conn:
        assert conn.execute(select(kiosks.c.kiosk_id).where(kiosks.c.kiosk_id == OTHER_KIOSK)).all() != []


def test_two_kiosks_paying_with_one_card_at_once_never_fail(linked: Linked) -> None:
    bank, _, terminals = linked
    _rich_card(bank)
    first = bank.kiosk
    replayer = KioskSigner(bank.url, TEST_KIOSK, TEST_TMK)
    try:
        houses = _unpaid_houses(bank, 24)
        before = bank.totals()
        bad: list[str] = []
        paid: list[int] = []
        lock = threading.Lock()
        stop = threading.Event()

        def pay_all(terminal: Terminal, mine: list[tuple[str, int, list[str]]]) -> None:
            for n, (house, amount, periods) in enumerate(mine):
                reply = terminal.purchase(GOOD.track2, GOOD.pin, GOOD.pan, amount,
                                          bill_ref=f"H={house};P={','.join(periods)}").message.fields
                with lock:
                    if reply[39] != "00":
                        bad.append(f"pay {terminal.terminal_id} {house}: {reply[39]}")
                        continue
                    paid.append(amount)
                if n % 3 == 2:                    # the outcome unknown to the kiosk: reversed
                    code = terminal.reversal(str(reply[11]), amount).message.fields[39]
                    with lock:
                        if code == "00":
                            paid.append(-amount)
                        else:
                            bad.append(f"reverse {terminal.terminal_id} {house}: {code}")

        def replay() -> None:                     # stale counters against the first kiosk's row
            while not stop.is_set():
                reply = replayer.send(BACKUP, replayer.body({"txn": {"txn_id": "nope"}}, counter=1), first.mak)
                if reply.status != 409:
                    with lock:
                        bad.append(f"replay: {reply.status}")

        threads = [threading.Thread(target=pay_all, args=(terminals[0], houses[0::2])),
                   threading.Thread(target=pay_all, args=(terminals[1], houses[1::2]))]
        hammer = threading.Thread(target=replay)
        hammer.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        stop.set()
        hammer.join(30)
    finally:
        replayer.close()
    assert bad == [], bad[:5]
    after = bank.totals()
    # the bank's side (the link's journal) moved as the account did; the copies never came
    assert after["bank_balances_fen"] - before["bank_balances_fen"] == -sum(paid)
    assert after["journal_net_fen"] - before["journal_net_fen"] == sum(paid)
    assert after["ledger_fen"] == before["ledger_fen"]
