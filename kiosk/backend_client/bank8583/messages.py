"""Each request's fields (BANK-8583.md §4), reply matching, and what a response
code (§5) means to the kiosk. Pure: the client numbers, sends and journals."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from common.bank8583 import fields as f
from common.bank8583.codec import FieldValue, Message
from common.bank8583.tracks import seal_track2
from common.bank8583.wire import Parsed
from common.money import Money

APPROVED: Final = "00"
ENTRY_MODE: Final = "021"      # 22: magnetic stripe, PIN entered
CONDITION: Final = "00"        # 25
PIN_CAPTURE: Final = "12"      # 26
CURRENCY: Final = "156"        # 49
PURCHASE: Final = "000000"     # 3
BALANCE: Final = "310000"
PIN_CHANGE: Final = "700000"

# §5 codes the resident can act on, as the payment screens' decline codes
# (kiosk/screens/messages.py DECLINES); any other refusal is "bank_<code>".
DECLINE_CODES: Final = {
    "14": "unknown_card", "51": "insufficient_funds", "54": "expired_card", "55": "wrong_pin",
    "61": "daily_limit", "62": "card_blocked", "75": "pin_locked",
}
UNAVAILABLE: Final = ("96", "97")      # nothing charged, retry later / staff
SIGN_ON_AGAIN: Final = ("99", "A0")    # PIN or MAC error: new keys, PIN again
DUPLICATE: Final = "94"                # outcome unknown: reverse (reason 06)
REASON_NO_REPLY, REASON_BAD_MAC, REASON_OTHER = "98", "A0", "06"


@dataclass(frozen=True)
class Exchange:
    """A request and the reply that matched it (MAC checked)."""

    request: Message
    reply: Parsed

    @property
    def code(self) -> str:
        return str(self.reply.message.fields.get(39, ""))


def decline_code(response_code: str) -> str:
    return DECLINE_CODES.get(response_code, f"bank_{response_code}")


def tries_left(reply: Message) -> int | None:
    """63 `T=<n>` after a wrong PIN (the reference front-end's; ours)."""
    text = reply.fields.get(63)
    if isinstance(text, str) and text.startswith("T=") and text[2:].isdigit():
        return int(text[2:])
    return None


def bill_reference(house_no: str, periods: list[str]) -> str:
    """63 of a purchase: `H=<house>;P=<period>,<period>…`."""
    return f"H={house_no};P={','.join(periods)}"


def _ids(stan: str, terminal: str, merchant: str) -> dict[int, FieldValue]:
    return {11: stan, 41: terminal, 42: merchant}


def sign_on(stan: str, terminal: str, merchant: str, batch: str, operator: str) -> Message:
    return Message("0800", {**_ids(stan, terminal, merchant),
                            60: f.Field60(f.TYPE_MANAGEMENT, batch, f.NET_SIGN_ON).encode(), 63: operator})


def network(stan: str, terminal: str, merchant: str, batch: str, code: str) -> Message:
    """0820: echo (301) or sign-off (002)."""
    return Message("0820", {**_ids(stan, terminal, merchant), 60: f.Field60(f.TYPE_MANAGEMENT, batch, code).encode()})


def _card(track2: str, tdk: bytes, pin_block: bytes) -> dict[int, FieldValue]:
    # the reader's track keeps its sentinels (`;…?`): field 35 carries the data between them
    track, encrypted = seal_track2(tdk, track2.strip().removeprefix(";").removesuffix("?"))
    return {22: ENTRY_MODE, 25: CONDITION, 26: PIN_CAPTURE, 35: track, 49: CURRENCY, 52: pin_block,
            53: f.security_control(encrypted)}


def purchase(stan: str, terminal: str, merchant: str, batch: str, amount: Money, track2: str,
             tdk: bytes, pin_block: bytes, reference: str) -> Message:
    return Message("0200", {3: PURCHASE, 4: f.amount(amount), **_ids(stan, terminal, merchant),
                            **_card(track2, tdk, pin_block),
                            60: f.Field60(f.TYPE_PURCHASE, batch, f.NET_FINANCIAL).encode(), 63: reference})


def balance(stan: str, terminal: str, merchant: str, batch: str, track2: str, tdk: bytes,
            pin_block: bytes) -> Message:
    return Message("0200", {3: BALANCE, **_ids(stan, terminal, merchant), **_card(track2, tdk, pin_block),
                            60: f.Field60(f.TYPE_BALANCE, batch, f.NET_FINANCIAL).encode()})


def pin_change(stan: str, terminal: str, merchant: str, batch: str, track2: str, tdk: bytes,
               old_block: bytes, new_block: bytes) -> Message:
    return Message("0100", {3: PIN_CHANGE, **_ids(stan, terminal, merchant), **_card(track2, tdk, old_block),
                            60: f.Field60(f.TYPE_PIN_CHANGE, batch, f.NET_FINANCIAL).encode(), 62: new_block})


def reversal_fields(original: Message, batch: str, sent_on: date) -> dict[int, str]:
    """The 0400's fields but 39 and 64: 3, 4, 22, 25, 49, 60 as the original,
    11 its STAN, 61 = batch ‖ STAN ‖ the kiosk's date when it sent it."""
    o = original.fields
    out = {n: str(o[n]) for n in (3, 4, 11, 22, 25, 41, 42, 49, 60) if n in o}
    out[61] = f.Field61(batch, str(o[11]), f"{sent_on:%m%d}").encode()
    return out


def debit_reversal_fields(terminal: str, merchant: str, batch: str, stan: str, amount_fen: int,
                          sent_on_mmdd: str) -> dict[int, str]:
    """The 0400's fields of an approved purchase rebuilt from its recorded
    debit (the armed reversal was dropped when the 0210 came): the same
    fields `reversal_fields` keeps of the 0200, so the same bytes."""
    original = Message("0200", {3: PURCHASE, 4: f.amount(Money(amount_fen)), **_ids(stan, terminal, merchant),
                                22: ENTRY_MODE, 25: CONDITION, 49: CURRENCY,
                                60: f.Field60(f.TYPE_PURCHASE, batch, f.NET_FINANCIAL).encode()})
    out = {n: str(original.fields[n]) for n in (3, 4, 11, 22, 25, 41, 42, 49, 60)}
    out[61] = f.Field61(batch, stan, sent_on_mmdd).encode()
    return out


def reversal(stored: dict[int, str], reason: str) -> Message:
    return Message("0400", {**stored, 39: reason})


def settlement(stan: str, terminal: str, merchant: str, batch: str, totals: f.Totals, operator: str) -> Message:
    return Message("0500", {**_ids(stan, terminal, merchant), 48: totals.encode(), 49: CURRENCY,
                            60: f.Field60(f.TYPE_MANAGEMENT, batch, f.NET_SETTLEMENT).encode(), 63: operator})


def upload(stan: str, terminal: str, merchant: str, batch: str, amount_fen: int, rrn: str,
           original: f.Field61) -> Message:
    return Message("0320", {4: f.amount(Money(amount_fen)), **_ids(stan, terminal, merchant), 37: rrn,
                            60: f.Field60(f.TYPE_MANAGEMENT, batch, f.NET_SETTLEMENT).encode(),
                            61: original.encode()})


def end_of_upload(stan: str, terminal: str, merchant: str, batch: str, count: int) -> Message:
    return Message("0320", {**_ids(stan, terminal, merchant), 48: f.upload_count(count),
                            60: f.Field60(f.TYPE_MANAGEMENT, batch, f.NET_END_OF_UPLOAD).encode()})


def _same(a: FieldValue | None, b: FieldValue | None) -> bool:
    # ans fields come back space-padded to their length
    return (a.rstrip(" ") if isinstance(a, str) else a) == (b.rstrip(" ") if isinstance(b, str) else b)


def matches(request: Message, reply: Message) -> bool:
    """§4: MTI + 10, the same 11 and 41, the same 3 and 4 where both carry
    them, and for 0820 the same 60.3. Anything else is "no reply"."""
    if reply.mti != f"{int(request.mti) + 10:04d}":
        return False
    req, rep = request.fields, reply.fields
    if not all(n in rep and _same(req.get(n), rep.get(n)) for n in (11, 41)):
        return False
    if not all(_same(req[n], rep[n]) for n in (3, 4) if n in req and n in rep):
        return False
    if request.mti == "0820":
        try:
            return f.Field60.parse(str(rep.get(60, ""))).network == f.Field60.parse(str(req[60])).network
        except ValueError:
            return False
    return True


def business_day(field15: str, today: date) -> str | None:
    """The settlement date (15, MMDD) as YYYY-MM-DD: the year that puts it
    nearest the kiosk's date (a reply after midnight on 31 Dec is next year's)."""
    if len(field15) != 4 or not field15.isdigit():
        return None
    best: date | None = None
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            day = date(year, int(field15[:2]), int(field15[2:]))
        except ValueError:
            continue
        if best is None or abs((day - today).days) < abs((best - today).days):
            best = day
    return best.isoformat() if best else None
