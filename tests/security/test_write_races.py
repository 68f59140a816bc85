"""The write discipline under concurrent kiosk messages, as an attacker (or a
flaky network) would try it, on SQLite and on PostgreSQL (docs/security.md,
"Write discipline"; issue 12: message counters are atomic in the database):

- one signed payment fired many times at once (a replay race): exactly one is
  accepted and the card is debited once; the others are refused as replays;
- a kiosk's first contact raced by many sign-ons: no 5xx (on PostgreSQL two
  transactions both inserting the kiosk's row would collide on its key);
- two kiosks paying and reversing with the same card at once, while the third
  hammers the first kiosk's counter with replays: every kiosk message gets a
  signed answer, never a 5xx (deadlocks and serialisation failures are retried
  inside the host), and the money adds up to the fen."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from host.billing import unpaid_periods
from host.schema.bank import bank_accounts, kiosks
from host.schema.estate import households
from tests.support.databases import BACKENDS
from tests.support.host_env import (BankEnv, check_invariants, GOOD, OTHER_KIOSK, OTHER_TMK, SEED_TODAY,
                                    TEST_KIOSK, TEST_TMK)
from tests.support.signing import KioskSigner, SignedReply

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
    _rich_card(bank)
    kiosk = bank.kiosk
    assert kiosk.sign_on().status == 200
    (house, amount, periods), = _unpaid_houses(bank, 1)
    raw = kiosk.body(kiosk.payment_fields("KIOSK-TEST-01-RACE-000001", house, amount, periods, GOOD))
    before = bank.totals()
    senders = [KioskSigner(bank.url, TEST_KIOSK, TEST_TMK) for _ in range(8)]
    try:
        replies: list[SignedReply] = _at_once([lambda s=s: s.send("/api/v1/bank/payments", raw, kiosk.mak)
                                               for s in senders])
    finally:
        for sender in senders:
            sender.close()
    statuses = sorted(r.status for r in replies)
    assert statuses == [200] + [409] * 7, statuses
    assert all(r.mac_ok for r in replies)
    assert bank.account(GOOD.pan).balance_fen == 10 ** 10 - amount
    check_invariants(before, bank.totals())


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


def test_two_kiosks_paying_with_one_card_at_once_never_see_a_5xx(bank: BankEnv) -> None:
    _rich_card(bank)
    first, second = bank.kiosk, bank.signer(OTHER_KIOSK, OTHER_TMK)
    replayer = KioskSigner(bank.url, TEST_KIOSK, TEST_TMK)
    try:
        assert first.sign_on().status == 200 and second.sign_on().status == 200
        houses = _unpaid_houses(bank, 24)
        before = bank.totals()
        bad: list[str] = []
        paid: list[int] = []
        lock = threading.Lock()
        stop = threading.Event()

        def pay_all(kiosk: KioskSigner, mine: list[tuple[str, int, list[str]]]) -> None:
            for n, (house, amount, periods) in enumerate(mine):
                txn_id = f"{kiosk.kiosk_id}-RACE-{n:06d}"
                for what, send in (("pay", lambda: kiosk.pay(txn_id, house, amount, periods, GOOD)),
                                   *((("reverse", lambda: kiosk.reverse(txn_id, amount)),) if n % 3 == 2 else ())):
                    reply = send()
                    with lock:
                        if reply.status != 200 or not reply.mac_ok:
                            bad.append(f"{what} {txn_id}: {reply.status} {reply.body[:80]!r}")
                        elif what == "pay" and reply.json["result"] == "approved":
                            paid.append(amount)
                        elif what == "reverse":
                            paid.append(-amount)
                        else:
                            bad.append(f"{what} {txn_id}: {reply.json}")

        def replay() -> None:                     # stale counters against the first kiosk's row
            while not stop.is_set():
                reply = replayer.send("/api/v1/bank/reversals",
                                      replayer.body({"txn_id": "nope", "amount_fen": 1}, counter=1), first.mak)
                if reply.status != 409:
                    with lock:
                        bad.append(f"replay: {reply.status}")

        threads = [threading.Thread(target=pay_all, args=(first, houses[0::2])),
                   threading.Thread(target=pay_all, args=(second, houses[1::2]))]
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
        bank.kiosk.close()
    assert bad == [], bad[:5]
    after = bank.totals()
    check_invariants(before, after)
    assert after["journal_net_fen"] - before["journal_net_fen"] == sum(paid)
    assert bank.account(GOOD.pan).balance_fen == 10 ** 10 - sum(paid)
    assert SEED_TODAY           # the bills above are as of the seeded day
