"""The reference bank's card checks and debits (authorise_debit,
verify_card_pin, check_bank_card, credit_account) that its ISO 8583
front-end's purchases (host.bank.frontend) and the in-host bank legs of the
card centre's wallet loads and unloads, the one-card's and the meters' reuse;
the bill check wallet purchases reuse (bill_decline); and the sign-on of the
signed JSON channel. Bill payments by bank card go over ISO 8583 only
(docs/bank-link.md): the JSON payment and reversal routes are gone (issue 16).

Each runs inside its caller's transaction, so the money movement and the
caller's journal line are committed together or not at all."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from typing import Any, Unpack

from Crypto.Cipher import DES3

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection, Row

from host.api_spec import Operation, describe, hex_bytes, integer, obj, text
from host.bank.accounts import MAX_PIN_TRIES
from host.bank.card_vault import pan_hash, pin_matches
from host.bank.keys import sign_on
from host.bank.security import BadRequest, Context, Message, text_field
from host.billing import Dues, dues
from host.schema.bank import bank_accounts, bank_link_journal
from host.schema.cards import card_txns
from common.crypto import CryptoError, pin_from_block_format0
from common.bank_card import mask_pan, parse_track2
from common.errors import BadHouseNumber, BadSwipe
from common.house import HouseNumber

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$", re.ASCII)
_HEX16 = re.compile(r"^[0-9A-Fa-f]{16}$")
MAX_PERIODS = 25          # what the String(200) `periods` columns hold joined (25 * 7 + 24 commas)

# the card, with what it has spent on this business day: wallet loads debited and not
# cancelled (host.cards), and purchases over ISO 8583 captured and not reversed
_SPENT_TODAY = select(func.coalesce(func.sum(card_txns.c.amount_fen), 0)).where(
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
_SET_TRIES = update(bank_accounts).where(bank_accounts.c.id == bindparam("a_id")) \
    .values(pin_tries=bindparam("tries"))
_MOVE = update(bank_accounts).where(bank_accounts.c.id == bindparam("a_id")) \
    .values(balance_fen=bank_accounts.c.balance_fen + bindparam("delta"))
_DEBIT = update(bank_accounts).where(bank_accounts.c.id == bindparam("a_id")) \
    .values(balance_fen=bank_accounts.c.balance_fen - bindparam("amount"), pin_tries=0)
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
