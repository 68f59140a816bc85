"""The money and card messages of the link (BANK-8583.md §4): purchase and
balance inquiry (0200), PIN change (0100), reversal (0400). The card, PIN,
limit and balance checks are the JSON bank's (host.bank.payments); what is
ISO 8583's here is the track under the TDK, the journal keyed by terminal +
batch + STAN, and the reply's fields."""
from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from common.bank8583 import fields
from common.bank8583.codec import FieldValue
from common.bank8583.errors import WireError
from common.bank8583.tracks import open_track2
from common.money import Money
from host.bank.card_guard import pan_across, pan_in_text
from host.bank.card_vault import pin_offset
from host.bank.frontend.exchange import (
    APPROVED, DECLINES, DUPLICATE, INVALID_CARD, PIN_ERROR, Answer, Exchange, Malformed, session_batch,
)
from host.bank.frontend.session import next_rrn
from host.bank.payments import BankDecision, authorise_debit, credit_account, open_pin, reset_pin_tries, verify_card_pin
from host.schema.bank import bank_accounts, bank_link_journal

PURCHASE, BALANCE, PIN_CHANGE = "000000", "310000", "700000"
KINDS = {PURCHASE: "purchase", BALANCE: "balance", PIN_CHANGE: "pin_change"}

_ENTRY = select(bank_link_journal).where(bank_link_journal.c.terminal_id == bindparam("t"),
                                         bank_link_journal.c.batch == bindparam("b"),
                                         bank_link_journal.c.stan == bindparam("s")).with_for_update()


# 63 of a purchase as our kiosks build it (kiosk.backend_client.bank8583.messages.bill_reference):
# a house number (common.house) and its months. Every digit is accounted for, so
# one is stored as sent even when its digits, run together, pass for a card number.
_BILL_REF = re.compile(r"H=\d{1,3}-\d{1,2}-\d{3,4};P=2\d{3}-(?:0[1-9]|1[0-2])(?:,2\d{3}-(?:0[1-9]|1[0-2]))*",
                       re.ASCII)


def _bill_ref(ex: Exchange) -> str | None:
    """63 of a purchase, to be journaled as sent: a bill reference of our shape,
    or any other text that holds no card number alone or with its digits run
    together (host.bank.card_guard). Anything else is refused (96, nothing
    charged, nothing journaled): the front-end never puts a PAN on disk, and
    the text is not logged."""
    value = ex.request.fields.get(63)
    if not isinstance(value, str):
        return None
    if _BILL_REF.fullmatch(value) or not (pan_in_text(value) or pan_across([value])):
        return value
    raise Malformed("field 63 is no bill reference and holds what looks like a card number")


def _stan(ex: Exchange) -> str:
    stan = ex.text(11)
    if len(stan) != 6 or not stan.isdigit():
        raise Malformed("field 11 is 6 digits")
    return stan


def _amount(ex: Exchange) -> int:
    fen = int(ex.text(4))
    if fen <= 0:
        raise Malformed("field 4 must be more than 0")
    return fen


def _currency(ex: Exchange) -> None:
    if ex.request.fields.get(49) != "156":
        raise Malformed("field 49 must be 156 (CNY)")


def _pan(ex: Exchange) -> str | None:
    """The PAN of field 35, decrypted with the TDK when 53 says so; None when
    the track is not a card's (wrong TDK, garbled). The Luhn digit is not
    checked (the page's own example PAN fails it): the account look-up decides."""
    assert ex.keys is not None
    try:
        encrypted = fields.track_encrypted(ex.text(53))
        track = open_track2(ex.keys.tdk, ex.text(35), encrypted)
    except WireError:
        return None
    pan, _, rest = track.partition("=")
    if not 12 <= len(pan) <= 19 or len(rest) < 4:
        return None
    return pan


def _pin_block(ex: Exchange, number: int) -> bytes:
    block = ex.data(number)
    if len(block) != 8:
        raise Malformed(f"field {number} is an 8-byte PIN block")
    return block


def _duplicate(conn: Connection, ex: Exchange, batch: str, stan: str) -> bool:
    return conn.execute(_ENTRY, {"t": ex.terminal_id, "b": batch, "s": stan}).first() is not None


# built once: `.values(**row)` per call costs more than the insert itself
_JOURNAL = insert(bank_link_journal).values({c: bindparam(c) for c in (
    "terminal_id", "batch", "stan", "kind", "state", "code", "account_id", "masked_pan", "amount_fen", "rrn",
    "auth_code", "bill_ref", "business_day", "created_at")})


def _journal(conn: Connection, ex: Exchange, *, batch: str, stan: str, kind: str, code: str,
             decision: BankDecision | None, amount_fen: int, rrn: str, auth_code: str | None = None,
             bill_ref: str | None = None) -> None:
    account = decision.account if decision is not None else None
    conn.execute(_JOURNAL, dict(
        terminal_id=ex.terminal_id, batch=batch, stan=stan, kind=kind,
        state="approved" if code == APPROVED else "declined", code=code,
        account_id=account.id if account is not None else None,
        masked_pan=decision.masked_pan if decision is not None else None, amount_fen=amount_fen, rrn=rrn,
        auth_code=auth_code, bill_ref=bill_ref, business_day=ex.day, created_at=ex.now))


def _code(decision: BankDecision) -> str:
    return APPROVED if decision.approved else DECLINES[decision.code or ""]


def _tries(decision: BankDecision) -> dict[int, FieldValue]:
    """63 after a wrong PIN: T=<tries left> (ours)."""
    return {63: f"T={decision.tries_left}"} if decision.code == "wrong_pin" and decision.tries_left else {}


def purchase(conn: Connection, ex: Exchange) -> Answer:
    """0200, 3 = 000000: a bill payment. 94 for a terminal + batch + STAN the
    journal holds already (also a reversal's tombstone), nothing changed."""
    batch, stan, amount = session_batch(ex), _stan(ex), _amount(ex)
    _currency(ex)
    block = _pin_block(ex, 52)
    bill_ref = _bill_ref(ex)
    if _duplicate(conn, ex, batch, stan):
        return Answer(DUPLICATE)
    rrn = next_rrn(conn, ex.day)
    pan = _pan(ex)
    if pan is None:
        _journal(conn, ex, batch=batch, stan=stan, kind="purchase", code=INVALID_CARD, decision=None,
                 amount_fen=amount, rrn=rrn, bill_ref=bill_ref)
        return Answer(INVALID_CARD, {37: rrn})
    decision = authorise_debit(conn, ex.bank_context(), pan=pan, pin_block=block, amount_fen=amount,
                               bad_block=PIN_ERROR)
    code = _code(decision)
    auth = f"{secrets.randbelow(10 ** 6):06d}" if code == APPROVED else None
    _journal(conn, ex, batch=batch, stan=stan, kind="purchase", code=code, decision=decision, amount_fen=amount,
             rrn=rrn, auth_code=auth, bill_ref=bill_ref)
    reply: dict[int, FieldValue] = {37: rrn, 15: f"{ex.day:%m%d}", **_tries(decision)}
    if auth is not None:
        reply[38] = auth
    return Answer(code, reply)


def _card_and_pin(conn: Connection, ex: Exchange) -> tuple[str, str, str, BankDecision | None, str]:
    """The common start of a balance inquiry and a PIN change: (batch, STAN,
    RRN, the card and old PIN's decision or None for an unreadable track, 39)."""
    batch, stan = session_batch(ex), _stan(ex)
    block = _pin_block(ex, 52)
    if _duplicate(conn, ex, batch, stan):
        return batch, stan, "", None, DUPLICATE
    rrn = next_rrn(conn, ex.day)
    pan = _pan(ex)
    if pan is None:
        return batch, stan, rrn, None, INVALID_CARD
    decision = verify_card_pin(conn, ex.bank_context(), pan=pan, pin_block=block, bad_block=PIN_ERROR)
    return batch, stan, rrn, decision, _code(decision)


def balance(conn: Connection, ex: Exchange) -> Answer:
    """0200, 3 = 310000: the available balance in 54 (never journaled: the
    journal line has no amount)."""
    _currency(ex)
    batch, stan, rrn, decision, code = _card_and_pin(conn, ex)
    if code == DUPLICATE:
        return Answer(code)
    reply: dict[int, FieldValue] = {37: rrn}
    if decision is not None and code == APPROVED:
        assert decision.account is not None
        reset_pin_tries(conn, decision.account)
        reply[54] = fields.balance(Money(decision.account.balance_fen))
    elif decision is not None:
        reply.update(_tries(decision))
    _journal(conn, ex, batch=batch, stan=stan, kind="balance", code=code, decision=decision, amount_fen=0, rrn=rrn)
    return Answer(code, reply)


def pin_change(conn: Connection, ex: Exchange) -> Answer:
    """0100, 3 = 700000: 52 the old PIN block, 62 the new one, both under the
    PIK. The new PIN's IBM 3624 offset replaces the old; the try count resets."""
    new_block = _pin_block(ex, 62)
    batch, stan, rrn, decision, code = _card_and_pin(conn, ex)
    if code == DUPLICATE:
        return Answer(code)
    reply: dict[int, FieldValue] = {37: rrn}
    if decision is not None and code == APPROVED:
        account: Any = decision.account
        assert ex.keys is not None and account is not None
        pan = _pan(ex)
        assert pan is not None
        new_pin = open_pin(new_block, pan, ex.keys.pik)
        if new_pin is None:
            code = PIN_ERROR
        else:
            conn.execute(update(bank_accounts).where(bank_accounts.c.id == account.id).values(
                pin_offset=pin_offset(ex.settings.bank_keys(), pan, new_pin), pin_tries=0))
    elif decision is not None:
        reply.update(_tries(decision))
    _journal(conn, ex, batch=batch, stan=stan, kind="pin_change", code=code, decision=decision, amount_fen=0,
             rrn=rrn)
    return Answer(code, reply)


def reversal(conn: Connection, ex: Exchange) -> Answer:
    """0400: undo the original of 61 (this terminal, its batch and STAN). Once:
    a repeat finds it reversed and answers 00 again. An original the journal
    lacks is acknowledged (00) and leaves a tombstone, so that the original,
    should it come late, is refused as a duplicate (94)."""
    try:
        original = fields.Field61.parse(ex.text(61))
    except WireError:
        raise Malformed("field 61 needs 16 digits") from None
    reason = ex.text(39)
    amount = int(ex.text(4)) if 4 in ex.request.fields else 0
    entry = conn.execute(_ENTRY, {"t": ex.terminal_id, "b": original.batch, "s": original.stan}).first()
    rrn = next_rrn(conn, ex.day)
    done = {"state": "reversed", "reversed_at": ex.now, "reversal_code": reason}
    if entry is None:
        kind = KINDS.get(str(ex.request.fields.get(3, PURCHASE)), "purchase")
        conn.execute(insert(bank_link_journal).values(
            terminal_id=ex.terminal_id, batch=original.batch, stan=original.stan, kind=kind, code=APPROVED,
            amount_fen=amount, rrn=None, business_day=ex.day, created_at=ex.now, **done))
        return Answer(APPROVED, {37: rrn})
    if entry.state == "reversed":
        return Answer(APPROVED, {37: rrn})
    if entry.kind == "purchase" and entry.state == "approved":
        if amount != entry.amount_fen:
            raise Malformed(f"field 4 ({amount}) is not the original's amount")
        credit_account(conn, entry.account_id, entry.amount_fen)
    conn.execute(update(bank_link_journal).where(bank_link_journal.c.id == entry.id).values(**done))
    return Answer(APPROVED, {37: rrn})
