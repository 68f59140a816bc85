"""Transfers at the kiosk, end to end through the private pcscd and vpcd (docs/cards.md
"Transfers"): the kiosk's TransferService (built by bootstrap) on the contact and
contactless readers, the real host. The APDUs of a CPU → CPU and a CPU → one-card
transfer byte for byte; a card pulled at each card write of each leg, put back:
the cards plus the credits owed add up to the fen, and the host's mirrors agree."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from common.epurse import TxnType, Wallet
from common.epurse_issuer import (DEMO_ISSUER_KEYS, load_mac1, load_mac2, load_tac, online_session_key,
                                  purchase_mac1, purchase_mac2, purchase_sk, purchase_tac)
from common.money import Money
from common.onecard import TxnType as OneCardType
from common.onecard_blocks import Record
from kiosk.domain.errors import CardTorn
from tests.support.onecard_host import purse
from tests.support.onecard_kiosks import OneCardWorld
from tests.support.transfers import (AMOUNT, FUNDED, cpu_and_onecard, host_transfer, kiosk_b, pull_cpu, recording,
                                     total, two_cpu_cards)
from tests.support.wallets import LI, ZHANG, card, insert, remove
TERM = bytes.fromhex("000000000001")          # the demo kiosk's [wallet] terminal_id


def cpu_mirror(w: OneCardWorld, serial: str) -> int:
    with w.host.engine.connect() as conn:
        return int(conn.execute(text("SELECT ep_fen FROM ic_cards WHERE serial = :s"), {"s": serial}).scalar_one())


def cpu_debit_transcript(serial: str, log: list[tuple[str, str]], amount: int, wallet: Wallet) -> list[str]:
    """The source's APDUs as the contract says them, its MAC1 from the demo issuer's keys and the
    card's own answers (balance, counter, random); the card's TAC and MAC2 checked likewise."""
    init_answer = bytes.fromhex(log[2][1])
    counter, random = int.from_bytes(init_answer[4:6], "big"), init_answer[11:15]
    debit = bytes.fromhex(log[3][0])
    term_txn_no, when = int.from_bytes(debit[5:9], "big"), debit[9:16]
    keys = DEMO_ISSUER_KEYS.for_card(bytes.fromhex(serial))
    sk = purchase_sk(keys.dpk, random, counter, term_txn_no)
    kind = TxnType.purchase(wallet)
    mac1 = purchase_mac1(sk, amount, kind, TERM, when)
    answer = bytes.fromhex(log[3][1])
    assert answer[:4] == purchase_tac(keys.dtk, amount, kind, TERM, term_txn_no, when)
    assert answer[4:8] == purchase_mac2(sk, amount) and answer[8:] == b"\x90\x00"
    return ["00A40000023F01", "00B095001E",
            f"805001{wallet:02X}0B01{amount:08X}{TERM.hex().upper()}0F",
            f"805401000F{term_txn_no:08X}{when.hex().upper()}{mac1.hex().upper()}08"]


async def test_cpu_to_cpu_transcript_and_ledgers(onecard_world: OneCardWorld) -> None:
    w = onecard_world
    src, dst = await two_cpu_cards(w)
    before, zhang_mirror, li_mirror = total(w), cpu_mirror(w, ZHANG.serial), cpu_mirror(w, LI.serial)
    readers = recording(w.kiosk.transfers)
    outcome = await w.kiosk.transfers.transfer(src, dst, AMOUNT)
    assert outcome.state == "completed" and outcome.reference.startswith("T"), outcome
    assert outcome.src_balance_after == src.balance - AMOUNT and outcome.dst_balance_after == dst.balance + AMOUNT
    assert (card(w.kiosk, ZHANG.serial).balance(Wallet.EP), card(w.kiosk, LI.serial).balance(Wallet.EP)) == (
        (src.balance - AMOUNT).fen, (dst.balance + AMOUNT).fen)
    assert total(w) == before and host_transfer(w, outcome.txn_id) == "completed"
    assert (cpu_mirror(w, ZHANG.serial), cpu_mirror(w, LI.serial)) == (zhang_mirror - 1_000, li_mirror + 1_000)
    # the APDUs, byte for byte: the source's purchase, then the destination's load
    source = readers["contact"].log
    assert [c for c, _ in source] == cpu_debit_transcript(ZHANG.serial, source, 1_000, Wallet.EP)
    dest = readers["contactless"].log
    init = bytes.fromhex(dest[2][1])
    balance, counter, random = int.from_bytes(init[:4], "big"), int.from_bytes(init[4:6], "big"), init[8:12]
    keys = DEMO_ISSUER_KEYS.for_card(bytes.fromhex(LI.serial))
    sk = online_session_key(keys.dlk, random, counter)
    assert init[12:16] == load_mac1(sk, balance, 1_000, TxnType.EP_LOAD, TERM)
    when = bytes.fromhex(dest[3][0])[5:12]
    assert [c for c, _ in dest] == [
        "00A40000023F01", "00B095001E", f"805000020B01{1_000:08X}{TERM.hex().upper()}10",
        f"805200000B{when.hex().upper()}{load_mac2(sk, 1_000, TxnType.EP_LOAD, TERM, when).hex().upper()}04"]
    assert dest[3][1] == load_tac(keys.dtk, balance + 1_000, counter, 1_000, TxnType.EP_LOAD, TERM,
                                  when).hex().upper() + "9000"
    await remove(w.kiosk, "contact")
    await remove(w.kiosk, "contactless")


async def test_cpu_to_onecard_transcript_and_back(onecard_world: OneCardWorld) -> None:
    w = onecard_world
    src, dst = await cpu_and_onecard(w)
    one = w.cards[0]
    before = total(w)
    readers = recording(w.kiosk.transfers)
    outcome = await w.kiosk.transfers.transfer(src, dst, AMOUNT)
    assert outcome.state == "completed", outcome
    assert purse(one) == FUNDED.balance_fen + 1_000 and total(w) == before
    source = readers["contact"].log
    assert [c for c, _ in source] == cpu_debit_transcript(ZHANG.serial, source, 1_000, Wallet.EP)
    commands = [bytes.fromhex(c) for c, _ in readers["contactless"].log]
    # the one-card's credit: its increment by the amount (key B), then the record type 07
    assert commands[0] == bytes.fromhex("FFCA000000")
    increment = [c for c in commands if c[:2] == b"\xFF\xD7" and c[5] == 0x01]
    assert increment == [bytes.fromhex("FFD70008050100000" + f"{1_000:03X}")]
    records = [Record.decode(c[5:]) for c in commands if c[:2] == b"\xFF\xD6" and c[3] in (12, 13, 14, 16, 17, 18)]
    assert [(r.txn_type, r.amount, r.balance_after) for r in records] == [
        (OneCardType.TRANSFER_IN, 1_000, FUNDED.balance_fen + 1_000)]
    # and back: one-card → CPU (record type 08)
    dst_back = await w.kiosk.transfers.card_in("contactless")
    back = await w.kiosk.transfers.transfer(dst_back, src, Money(400))
    assert back.state == "completed" and purse(one) == FUNDED.balance_fen + 600 and total(w) == before
    with w.host.engine.connect() as conn:
        mirror = conn.execute(text("SELECT balance_fen FROM onecards WHERE uid = :u"), {"u": FUNDED.uid}).scalar_one()
    assert mirror == purse(one)
    await remove(w.kiosk, "contact")
    await remove(w.kiosk, "contactless")


async def test_same_card_and_onecard_to_bank_are_refused(onecard_world: OneCardWorld) -> None:
    w = onecard_world
    src, dst = await cpu_and_onecard(w)
    from kiosk.services.transfer_view import BANK, TransferCard
    same = await w.kiosk.transfers.transfer(src, src, AMOUNT)
    assert same.state == "declined" and same.decline_code == "same_card" and same.txn_id == ""
    to_bank = await w.kiosk.transfers.transfer(dst, TransferCard(BANK, "622202******1234"), AMOUNT)
    assert to_bank.decline_code == "onecard_to_bank"
    over = await w.kiosk.transfers.transfer(src, dst, Money(200_001))
    assert over.state == "declined" and over.decline_code == "transfer_limit"
    await remove(w.kiosk, "contact")
    await remove(w.kiosk, "contactless")


# (leg, card write, verdict): the CPU source's DEBIT FOR PURCHASE and the CPU
# destination's CREDIT FOR LOAD, each pulled before the card saw it or after it applied it
CPU_TEARS = [(leg, v) for leg in ("debit", "credit") for v in ("before", "after")]


@pytest.mark.parametrize("leg,verdict", CPU_TEARS, ids=[f"{leg}-{v}" for leg, v in CPU_TEARS])
async def test_cpu_to_cpu_torn_at_each_write_adds_up(onecard_world: OneCardWorld, leg: str, verdict: str) -> None:
    w = onecard_world
    src, dst = await two_cpu_cards(w)
    before = total(w)
    serial, reader = (ZHANG.serial, "contact") if leg == "debit" else (LI.serial, "contactless")
    pull_cpu(w, serial, 0x54 if leg == "debit" else 0x52, verdict)
    with pytest.raises(CardTorn):
        await w.kiosk.transfers.transfer(src, dst, AMOUNT)
    torn = w.kiosk.transfers.torn
    assert torn is not None and torn.leg == leg and torn.card.card == serial
    await remove(w.kiosk, reader)
    await insert(w.kiosk, serial, reader)
    outcome = await w.kiosk.transfers.resume_torn(reader)
    cancelled = leg == "debit" and verdict == "before"
    assert outcome.state == ("cancelled" if cancelled else "completed"), outcome
    assert host_transfer(w, outcome.txn_id) == outcome.state
    assert total(w) == before
    moved = 0 if cancelled else 1_000
    assert card(w.kiosk, ZHANG.serial).balance(Wallet.EP) == src.balance.fen - moved
    assert card(w.kiosk, LI.serial).balance(Wallet.EP) == dst.balance.fen + moved
    await remove(w.kiosk, "contact")
    await remove(w.kiosk, "contactless")


# the one-card's writes in steps 3–7 (counted from step 3's write of block 24):
# 24 itself, the value operation (not applied / applied), the restore, the record, 24 and 25 of step 7
ONECARD_TEARS = [(0, True), (4, False), (4, True), (6, True), (9, True), (12, True), (13, True)]
ONECARD_CASES = [(d, at, a) for d in ("debit", "credit") for at, a in ONECARD_TEARS]


@pytest.mark.parametrize("direction,at,applied", ONECARD_CASES,
                         ids=[f"{d}-w{at}-{'applied' if a else 'not'}" for d, at, a in ONECARD_CASES])
async def test_onecard_leg_torn_at_each_write_adds_up(onecard_world: OneCardWorld, direction: str, at: int,
                                                      applied: bool) -> None:
    """`debit`: one-card → CPU, the one-card's debit torn; `credit`: CPU → one-card, its credit torn."""
    w = onecard_world
    cpu, one_view = await cpu_and_onecard(w)
    one = w.cards[0]
    before = total(w)
    armed = False
    left = at

    def fault(apdu: bytes) -> str | None:
        nonlocal armed, left
        if not armed and apdu[:4] == bytes.fromhex("FFD60018"):
            armed = True
        if not armed:
            return None
        if left > 0:
            left -= 1
            return None
        one.fault = None
        return "after" if applied else "before"
    one.fault = fault
    src, dst = (one_view, cpu) if direction == "debit" else (cpu, one_view)
    with pytest.raises(CardTorn):
        await w.kiosk.transfers.transfer(src, dst, AMOUNT)
    await remove(w.kiosk, "contactless")
    await insert(w.kiosk, one.serial, "contactless")
    outcome = await w.kiosk.transfers.resume_torn("contactless")
    never = direction == "debit" and outcome.state == "cancelled"
    assert outcome.state in ("completed", "cancelled") and (outcome.state == "completed" or never), outcome
    assert host_transfer(w, outcome.txn_id) == outcome.state
    assert total(w) == before
    moved = 0 if never else 1_000
    sign = -1 if direction == "debit" else 1
    assert purse(one) == FUNDED.balance_fen + sign * moved
    with w.host.engine.connect() as conn:
        mirror = conn.execute(text("SELECT balance_fen FROM onecards WHERE uid = :u"), {"u": FUNDED.uid}).scalar_one()
    assert mirror == purse(one)
    await remove(w.kiosk, "contact")
    await remove(w.kiosk, "contactless")


LEFT = [("debit", "after"), ("credit", "before"), ("credit", "after")]


@pytest.mark.parametrize("leg,verdict", LEFT, ids=[f"{leg}-{v}" for leg, v in LEFT])
async def test_a_card_not_back_is_settled_at_its_next_presentation_at_another_kiosk(
        onecard_world: OneCardWorld, leg: str, verdict: str) -> None:
    """The resident walks away from a torn transfer: the debit's proof and the credit owed are
    settled when each card is next presented, here at kiosk B."""
    w = onecard_world
    src, dst = await two_cpu_cards(w)
    before = total(w)
    serial, reader = (ZHANG.serial, "contact") if leg == "debit" else (LI.serial, "contactless")
    pull_cpu(w, serial, 0x54 if leg == "debit" else 0x52, verdict)
    with pytest.raises(CardTorn):
        await w.kiosk.transfers.transfer(src, dst, AMOUNT)
    txn_id = w.kiosk.transfers.torn.txn_id
    w.kiosk.transfers.abandon_torn()
    await remove(w.kiosk, reader)
    await insert(w.kiosk, serial, reader)
    b = kiosk_b(w)
    if leg == "debit":       # the source at kiosk B: its proof shows the debit; the credit is then owed to LI
        assert await b.settle_owed(await b.card_in("contact")) == (txn_id,)
        assert host_transfer(w, txn_id) == "debited"
    assert await b.settle_owed(await b.card_in("contactless")) == (txn_id,)
    assert host_transfer(w, txn_id) == "completed" and total(w) == before
    assert card(w.kiosk, LI.serial).balance(Wallet.EP) == dst.balance.fen + 1_000
    assert await b.settle_owed(await b.card_in("contactless")) == ()
    await remove(w.kiosk, "contact")
    await remove(w.kiosk, "contactless")
