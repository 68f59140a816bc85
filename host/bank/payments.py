"""Card payments (sales) and reversals: the bank front-end's business, and the
bank-card checks the card centre's wallet loads and unloads reuse
(authorise_debit, check_bank_card) and the bill check its purchases reuse
(bill_decline).

Each runs inside the SecureChannel's transaction, so the money movement, the
journal line, the bills and the property ledger, the stored reply and the
kiosk's counter are committed together or not at all."""
from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from typing import Any, Unpack

from Crypto.Cipher import DES3

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from host.api_spec import (AMOUNT_FEN, DAY, DECLINED, FEN, HOUSE_NO, PERIODS, REASON, TXN_ID, Operation, describe,
                           enum, hex_bytes, integer, nullable, obj, text)
from host.bank.accounts import MAX_PIN_TRIES
from host.bank.card_vault import pan_hash, pin_matches
from host.bank.card_guard import refuse_pan, withheld
from host.bank.journal import write_line
from host.bank.keys import sign_on
from host.bank.security import BadRequest, Context, Message, encode, int_field, text_field
from host.billing import Dues, dues, pay_bills, unpay_bills
from host.db import inserted_id
from host.schema.bank import bank_accounts, bank_link_journal, bank_txns, property_ledger
from host.schema.cards import card_txns
from host.schema.estate import households
from common.crypto import CryptoError, pin_from_block_format0
from common.bank_card import mask_pan, parse_track2
from common.errors import BadHouseNumber, BadSwipe
from common.house import HouseNumber

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$", re.ASCII)
_HEX16 = re.compile(r"^[0-9A-Fa-f]{16}$")
MAX_PERIODS = 25          # what the String(200) `periods` columns hold joined (25 * 7 + 24 commas)

_TXN = select(bank_txns).where(bank_txns.c.txn_id == bindparam("txn_id")).with_for_update()
# the card, with what it has spent on this business day: payments captured and not
# reversed (JSON and ISO 8583), and wallet loads debited and not cancelled (host.cards)
_SPENT_TODAY = select(func.coalesce(func.sum(bank_txns.c.amount_fen), 0)).where(
    bank_txns.c.account_id == bank_accounts.c.id, bank_txns.c.business_day == bindparam("day"),
    bank_txns.c.state == "approved").scalar_subquery() \
    + select(func.coalesce(func.sum(card_txns.c.amount_fen), 0)).where(
        card_txns.c.account_id == bank_accounts.c.id, card_txns.c.business_day == bindparam("day"),
        card_txns.c.kind == "load", card_txns.c.state.in_(("authorised", "completed"))).scalar_subquery() \
    + select(func.coalesce(func.sum(bank_link_journal.c.amount_fen), 0)).where(   # ISO 8583 purchases
        bank_link_journal.c.account_id == bank_accounts.c.id, bank_link_journal.c.business_day == bindparam("day"),
        bank_link_journal.c.kind == "purchase", bank_link_journal.c.state == "approved").scalar_subquery()
_ACCOUNT = select(bank_accounts.c.id, bank_accounts.c.masked_pan, bank_accounts.c.expiry,
                  bank_accounts.c.status, bank_accounts.c.balance_fen, bank_accounts.c.daily_limit_fen,
                  bank_accounts.c.pin_offset, bank_accounts.c.pin_tries,
                  _SPENT_TODAY.label("spent_today_fen")) \
    .where(bank_accounts.c.pan_hash == bindparam("pan_hash")).with_for_update()
_HOUSEHOLD = select(households.c.id).where(households.c.house_no == bindparam("house_no")).with_for_update()
_SET_TRIES = update(bank_accounts).where(bank_accounts.c.id == bindparam("a_id")) \
    .values(pin_tries=bindparam("tries"))
_MOVE = update(bank_accounts).where(bank_accounts.c.id == bindparam("a_id")) \
    .values(balance_fen=bank_accounts.c.balance_fen + bindparam("delta"))
_DEBIT = update(bank_accounts).where(bank_accounts.c.id == bindparam("a_id")) \
    .values(balance_fen=bank_accounts.c.balance_fen - bindparam("amount"), pin_tries=0)
_NEW_TXN = insert(bank_txns)
_FINISH_TXN = update(bank_txns).where(bank_txns.c.id == bindparam("t_id")) \
    .values(reference=bindparam("ref"), reply_json=bindparam("reply"))
_LEDGER = insert(property_ledger)
_LEDGER_PAYMENT = select(property_ledger).where(property_ledger.c.txn_id == bindparam("txn_id"),
                                                property_ledger.c.kind == "payment")
# a wallet purchase of the household's bill, authorised and awaiting its confirm (host.cards)
_WALLET_PENDING = select(card_txns.c.id).where(card_txns.c.household_id == bindparam("hid"),
                                               card_txns.c.kind == "purchase", card_txns.c.state == "authorised",
                                               card_txns.c.periods.not_like("meter:%"))   # not a meter sale's


SIGN_ON = Operation(
    "Sign on: fresh PIN and MAC keys for the kiosk, wrapped under its TMK", auth="tmk",
    reply=obj({"pin_key": hex_bytes(16), "pin_kcv": hex_bytes(3), "mac_key": hex_bytes(16),
               "mac_kcv": hex_bytes(3), "key_version": integer(1)}))


@describe(SIGN_ON)
def handle_sign_on(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    return sign_on(conn, ctx.kiosk, ctx.tmk, ctx.now)


def card_expired(expiry: str, business_day: date) -> bool:
    """YYMM: the card is good to the last day of that month."""
    return (2000 + int(expiry[:2]), int(expiry[2:])) < (business_day.year, business_day.month)


def _declined(txn_id: str, code: str, tries_left: int | None = None) -> dict[str, Any]:
    return {"txn_id": txn_id, "result": "declined", "code": code, "tries_left": tries_left}


def house_field(body: dict[str, Any]) -> str:
    """house_no, canonical (3-2-1202)."""
    try:
        return str(HouseNumber.parse(text_field(body, "house_no", 16)))
    except BadHouseNumber:
        raise BadRequest("house_no must be building-unit-room, e.g. 3-2-1202") from None


def periods_field(body: dict[str, Any]) -> list[str]:
    """periods: distinct YYYY-MM months, returned oldest first."""
    periods = body.get("periods")
    if not isinstance(periods, list) or not 0 < len(periods) <= MAX_PERIODS or not all(
            isinstance(p, str) and _PERIOD.match(p) for p in periods) or len(set(periods)) != len(periods):
        raise BadRequest(f"periods must be a list of 1..{MAX_PERIODS} distinct YYYY-MM months")
    return sorted(periods)


def bank_card_fields(body: dict[str, Any], *, with_pin: bool = True) -> dict[str, Any]:
    """pan, expiry, track2 (they must agree) and, for a debit, pin_block: {pan, pin_block}."""
    pan = text_field(body, "pan", 19)
    expiry = text_field(body, "expiry", 4)
    track2 = text_field(body, "track2", 40)
    pin_block = b""
    if with_pin:
        text = text_field(body, "pin_block", 16)
        if not _HEX16.match(text):
            raise BadRequest("pin_block must be 16 hex digits (8 bytes)")
        pin_block = bytes.fromhex(text)
    try:
        swipe = parse_track2(track2)
    except BadSwipe:
        raise BadRequest("track2 is not a readable ISO/IEC 7813 track 2") from None
    if swipe.pan != pan or swipe.expiry != expiry:
        raise BadRequest("pan and expiry must be those of track2")
    return {"pan": pan, "pin_block": pin_block}


def _payment_fields(body: dict[str, Any]) -> dict[str, Any]:
    txn_id = text_field(body, "txn_id")
    house_no = house_field(body)
    amount = int_field(body, "amount_fen", 1)
    periods = periods_field(body)
    card = bank_card_fields(body)
    local_time = body.get("local_time")
    if local_time is not None and (not isinstance(local_time, str) or len(local_time) > 32):
        raise BadRequest("local_time must be a string of at most 32 characters")   # bank_txns.kiosk_time
    # the card's own fields (pan, track2) aside, what the payment leaves on disk holds no card number
    refuse_pan([txn_id, local_time], what="the payment", advice="the card travels in pan and track2 only")
    return {"txn_id": txn_id, "house_no": house_no, "amount_fen": amount, "periods": periods, **card,
            "local_time": local_time}


@lru_cache(maxsize=256)
def _pik_cipher(pik: bytes) -> Any:
    return DES3.new(pik, DES3.MODE_ECB)   # = crypto.tdes_decrypt, set up once per PIK (ECB is stateless)


def open_pin(block: bytes, pan: str, pik: bytes) -> str | None:
    """The PIN of a format 0 block under the PIK, None if it is not one."""
    try:
        return pin_from_block_format0(_pik_cipher(pik).decrypt(block), pan)
    except CryptoError:
        return None     # not a format 0 block under this PIK: counts as a wrong PIN


# --- the bank card: one set of checks for card payments and wallet loads/unloads --
@dataclass(frozen=True, slots=True)
class BankDecision:
    """The bank's answer for a card: approved (code None) or a decline code."""
    account: Row[Unpack[tuple[Any, ...]]] | None      # the card's account (any columns); None for an unknown card
    masked_pan: str
    code: str | None = None
    tries_left: int | None = None

    @property
    def approved(self) -> bool:
        return self.code is None


def check_bank_card(conn: Connection, ctx: Context, pan: str) -> BankDecision:
    """What every use of a card checks, in order: unknown_card, card_blocked,
    expired_card (the business day decides). A credit (wallet unload) needs no more.
    The account is found by the PAN's keyed hash (a ConfigError without [bank] keys)."""
    day = ctx.business_day
    lookup = pan_hash(ctx.settings.bank_keys(), pan)
    account = conn.execute(_ACCOUNT, {"pan_hash": lookup, "day": day}).first()
    if account is None:
        return BankDecision(None, mask_pan(pan), "unknown_card")
    if account.status != "active":
        return BankDecision(account, account.masked_pan, "card_blocked")
    if card_expired(account.expiry, day):
        return BankDecision(account, account.masked_pan, "expired_card")
    return BankDecision(account, account.masked_pan)


def verify_card_pin(conn: Connection, ctx: Context, *, pan: str, pin_block: bytes,
                    bad_block: str | None = None) -> BankDecision:
    """The card (check_bank_card), then its PIN from a format 0 block under the
    kiosk's PIK: pin_locked, wrong_pin (counted; the last try locks). A block that
    is no format 0 block under the PIK counts as a wrong PIN, or, with
    `bad_block`, is declined with that code uncounted (the ISO 8583 link: a key
    problem, not the resident's PIN). An approved decision leaves the try count
    as it was: the caller resets it when it books the result (reset_pin_tries)."""
    decision = check_bank_card(conn, ctx, pan)
    account = decision.account
    if account is None or not decision.approved:
        return decision
    if account.pin_tries >= MAX_PIN_TRIES:
        return replace(decision, code="pin_locked", tries_left=0)
    assert ctx.kiosk.pik is not None
    pin = open_pin(pin_block, pan, ctx.kiosk.pik)
    if pin is None and bad_block is not None:
        return replace(decision, code=bad_block)
    if pin is None or not pin_matches(ctx.settings.bank_keys(), pan, account.pin_offset, pin):
        tries = account.pin_tries + 1
        conn.execute(_SET_TRIES, {"a_id": account.id, "tries": tries})
        if tries >= MAX_PIN_TRIES:
            return replace(decision, code="pin_locked", tries_left=0)
        return replace(decision, code="wrong_pin", tries_left=MAX_PIN_TRIES - tries)
    return decision


def reset_pin_tries(conn: Connection, account: Any) -> None:
    """A right PIN booked: the count of wrong ones starts again."""
    if account.pin_tries:
        conn.execute(_SET_TRIES, {"a_id": account.id, "tries": 0})


def authorise_debit(conn: Connection, ctx: Context, *, pan: str, pin_block: bytes, amount_fen: int,
                    business: Callable[[], str | None] | None = None,
                    bad_block: str | None = None) -> BankDecision:
    """Check a bank card and its PIN, then debit it. Order: the card and its PIN
    (verify_card_pin: check_bank_card, pin_locked, wrong_pin), then the caller's own `business`
    checks (a bill payment's bill), daily_limit (today's payments and wallet loads
    on the card + this one), insufficient_funds. A right PIN resets the try count;
    on approval the account is debited by `amount_fen`."""
    decision = verify_card_pin(conn, ctx, pan=pan, pin_block=pin_block, bad_block=bad_block)
    account = decision.account
    if account is None or not decision.approved:
        return decision
    code = business() if business is not None else None
    if code is None and account.spent_today_fen + amount_fen > account.daily_limit_fen:
        code = "daily_limit"
    if code is None and account.balance_fen < amount_fen:
        code = "insufficient_funds"
    if code is not None:
        reset_pin_tries(conn, account)
        return replace(decision, code=code)
    conn.execute(_DEBIT, {"a_id": account.id, "amount": amount_fen})   # and a right PIN resets the count
    return decision


def credit_account(conn: Connection, account_id: int, amount_fen: int) -> None:
    """Give money back to (or pay it into) a card's account."""
    conn.execute(_MOVE, {"a_id": account_id, "delta": amount_fen})


def bill_decline(conn: Connection, household_id: int, amount_fen: int, periods: list[str],
                 ctx: Context) -> tuple[str | None, Dues | None]:
    """The bill a payment settles, in order: payment_pending (a wallet purchase of
    this household's bill awaits its confirm), nothing_due, bill_changed (the
    amount or the months differ from what the bill lookup shows now).
    (decline code or None, the dues when approved)."""
    if conn.execute(_WALLET_PENDING, {"hid": household_id}).first() is not None:
        return "payment_pending", None
    # the amount due now, as the bill lookup (household_bill) computes it
    bill = dues(conn, household_id, ctx.business_day, ctx.settings)
    if bill.total_due_fen == 0:
        return "nothing_due", None
    if amount_fen != bill.total_due_fen or tuple(periods) != bill.periods:
        return "bill_changed", None
    return None, bill


# pan, expiry and track2 must agree (track2 is read for them); pin_block is a
# format 0 block under the PIK (ISO 9564)
BANK_CARD = {"pan": text(19, pattern="^[0-9]{12,19}$", min_len=12), "expiry": text(4, pattern="^[0-9]{4}$", min_len=4),
             "track2": text(40)}
PIN_BLOCK = {"pin_block": hex_bytes(8)}
PAYMENT = Operation(
    "Pay a household's bills (the amount and months its bill shows now) with a bank card", statuses=(503,),
    request=obj({"txn_id": TXN_ID, "house_no": HOUSE_NO, "amount_fen": AMOUNT_FEN, "periods": PERIODS,
                 **BANK_CARD, **PIN_BLOCK}, {"local_time": nullable(text(32, min_len=0))}),
    reply={"anyOf": [
        obj({"txn_id": TXN_ID, "result": enum("approved"), "reference": text(12), "auth_code": text(6),
             "business_day": DAY, "amount_fen": AMOUNT_FEN}),
        {**DECLINED, "properties": {**DECLINED["properties"], "business_day": DAY}}]},
    description="Idempotent on txn_id: a repeat answers the first reply byte for byte "
                "(a reversed payment: declined `reversed`, without business_day).")


@describe(PAYMENT)
def handle_payment(conn: Connection, message: Message, ctx: Context) -> dict[str, Any] | bytes:
    f = _payment_fields(message.body)
    txn_id = f["txn_id"]
    existing = conn.execute(_TXN, {"txn_id": txn_id}).first()
    if existing is not None:
        if existing.kiosk_id != message.kiosk_id:
            raise BadRequest("this txn_id belongs to another kiosk")
        if existing.state == "reversed":
            return _declined(txn_id, "reversed")
        return existing.reply_json.encode("utf-8")    # the first answer, unchanged
    household_id = conn.execute(_HOUSEHOLD, {"house_no": f["house_no"]}).scalar()
    if household_id is None:
        raise BadRequest(f"no household {f['house_no']} on this estate")
    day = ctx.business_day

    bill: Dues | None = None

    def bill_checks() -> str | None:
        nonlocal bill
        code, bill = bill_decline(conn, household_id, f["amount_fen"], f["periods"], ctx)
        return code

    decision = authorise_debit(conn, ctx, pan=f["pan"], pin_block=f["pin_block"], amount_fen=f["amount_fen"],
                               business=bill_checks)
    account = decision.account
    # business_day: the day it is booked on, approved or not; the kiosk counts it there too
    reply: dict[str, Any] = (
        {"txn_id": txn_id, "result": "approved", "reference": None, "auth_code": None,
         "business_day": day.isoformat(), "amount_fen": f["amount_fen"]} if decision.approved
        else {**_declined(txn_id, decision.code or "", decision.tries_left), "business_day": day.isoformat()})
    row = {"txn_id": txn_id, "kiosk_id": message.kiosk_id, "state": "approved" if decision.approved else "declined",
           "account_id": account.id if account is not None else None, "masked_pan": decision.masked_pan,
           "household_id": household_id, "amount_fen": f["amount_fen"], "reference": None,
           "business_day": day, "kiosk_time": f["local_time"], "reply_json": None, "created_at": ctx.now}
    txn_pk = inserted_id(conn.execute(_NEW_TXN, row))
    if decision.approved:
        assert bill is not None
        reference = f"{day:%y%m%d}{txn_pk % 1_000_000:06d}"
        reply.update(reference=reference, auth_code=f"{secrets.randbelow(10 ** 6):06d}")
        paid = pay_bills(conn, household_id, f["periods"], reference=reference, paid_at=ctx.now)
        if paid != len(f["periods"]):
            raise RuntimeError(f"expected to pay {len(f['periods'])} bills, paid {paid}")
        conn.execute(_LEDGER, {"txn_id": txn_id, "kind": "payment", "household_id": household_id,
                               "periods": ",".join(f["periods"]), "amount_fen": f["amount_fen"],
                               "late_fee_fen": bill.late_fee_fen, "reference": reference,
                               "business_day": day, "at": ctx.now})
    body = encode(reply)
    conn.execute(_FINISH_TXN, {"t_id": txn_pk, "ref": reply.get("reference"), "reply": body.decode("utf-8")})
    write_line(conn, day=day, at=ctx.now, kiosk_id=message.kiosk_id, txn_id=txn_id, type_="sale",
               result=reply["result"], code=reply.get("code"), masked_pan=decision.masked_pan,
               amount_fen=f["amount_fen"], reference=reply.get("reference"), auth_code=reply.get("auth_code"))
    return body


REVERSAL = Operation(
    "Reverse a payment (the kiosk does not know its outcome); a txn_id never seen leaves a tombstone",
    request=obj({"txn_id": TXN_ID, "amount_fen": FEN}, {"reason": REASON}),
    reply=obj({"txn_id": TXN_ID, "status": enum("reversed", "already_reversed", "not_found")}))


@describe(REVERSAL)
def handle_reversal(conn: Connection, message: Message, ctx: Context) -> dict[str, Any]:
    txn_id = text_field(message.body, "txn_id")
    amount = int_field(message.body, "amount_fen", 0)
    reason = message.body.get("reason", "")
    if not isinstance(reason, str):
        raise BadRequest("reason must be a string")
    refuse_pan([txn_id], what="the reversal's txn_id")      # the payment's own id passed this check
    reason = withheld(reason)[:64] or None                  # never refused: the money must be settled
    txn = conn.execute(_TXN, {"txn_id": txn_id}).first()
    day, now = ctx.business_day, ctx.now

    def line(result: str, masked: str | None, amount_fen: int, reference: str | None) -> None:
        write_line(conn, day=day, at=now, kiosk_id=message.kiosk_id, txn_id=txn_id, type_="reversal",
                   result=result, code=reason, masked_pan=masked, amount_fen=amount_fen,
                   reference=reference, auth_code=None)

    if txn is None:   # nothing captured: a tombstone, so a late payment is declined `reversed`
        conn.execute(_NEW_TXN, {"txn_id": txn_id, "kiosk_id": message.kiosk_id, "state": "reversed",
                                "account_id": None, "masked_pan": None, "household_id": None,
                                "amount_fen": amount, "reference": None, "business_day": day,
                                "kiosk_time": None, "reply_json": None, "created_at": now, "reversed_at": now})
        line("not_found", None, amount, None)
        return {"txn_id": txn_id, "status": "not_found"}
    if txn.kiosk_id != message.kiosk_id:
        raise BadRequest("this txn_id belongs to another kiosk")
    if txn.state == "reversed":
        return {"txn_id": txn_id, "status": "already_reversed" if txn.reference else "not_found"}
    if txn.state == "declined":
        conn.execute(update(bank_txns).where(bank_txns.c.id == txn.id).values(state="reversed", reversed_at=now))
        line("not_found", txn.masked_pan, amount, None)
        return {"txn_id": txn_id, "status": "not_found"}

    if amount != txn.amount_fen:
        raise BadRequest(f"amount_fen {amount} is not the captured {txn.amount_fen}")
    credit_account(conn, txn.account_id, txn.amount_fen)
    unpay_bills(conn, txn.household_id, txn.reference, at=now)
    payment = conn.execute(_LEDGER_PAYMENT, {"txn_id": txn_id}).one()
    conn.execute(_LEDGER, {"txn_id": txn_id, "kind": "reversal", "household_id": payment.household_id,
                           "periods": payment.periods, "amount_fen": -payment.amount_fen,
                           "late_fee_fen": -payment.late_fee_fen, "reference": payment.reference,
                           "business_day": day, "at": now})
    conn.execute(update(bank_txns).where(bank_txns.c.id == txn.id).values(state="reversed", reversed_at=now))
    line("reversed", txn.masked_pan, txn.amount_fen, txn.reference)
    return {"txn_id": txn_id, "status": "reversed"}
