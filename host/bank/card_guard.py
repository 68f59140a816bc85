"""One guard for "no full card number" in what a kiosk message leaves on disk
(docs/payments.md, "No card number"): backup copies, txn ids, reversal and
wallet-cancel reasons, heartbeat free text.

A PAN is 13-19 digits passing the Luhn check. What is searched for it:

- each field alone (`pan_in_text`): runs of digits joined across one repeated
  separator (`6222 0210 …`, `6222-0210-…`, `6222.0210.…`, UTF-16's NULs), with
  full-width digits folded to ASCII; a time stamp (20YYMMDD, 20YYMMDDhhmm[ss])
  standing as a whole run is skipped but the digits on both sides of it are
  still tested together, and one glued in front of more digits is skipped only
  itself (`20261121` + PAN is refused); base64 (standard or URL-safe, at any
  alignment) and hex tokens are decoded and searched the same way;
- the free-text fields of one message together (`pan_across`): every digit
  they hold, in order, time stamps and ISO dates left out, as one run, so a
  PAN split across two fields (or cut by letters) is found.

The test of a run of digits is the contract's: 13-19 digits passing Luhn; a
longer run is refused if any 13-19 digit window of it passes. Legitimate
traffic stays clear: kiosk txn ids (`KIOSK-DEMO-01-20261121105310-8C6EDC`:
the time stamp is skipped, the digits left are few), masked PANs (`*` is not
a separator), references (12 digits), auth codes, ISO times, amounts.
Fields with a fixed shape (references, auth codes, masked PANs, times, house
numbers, amounts) are tested alone but left out of the cross-field run; a
registered IC card serial is not searched at all (host.bank.backups)."""
from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from host.bank.security import BadRequest
from common.bank_card import luhn_ok

_RUN = re.compile(r"[0-9]+")
_B64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_B64_URL = re.compile(r"[A-Za-z0-9_-]{16,}={0,2}")
_HEX = re.compile(r"[0-9A-Fa-f]{26,}")
_ISO = re.compile(r"20\d\d-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d{1,6})?)?)?")
_MAX_DEPTH = 2          # base64 of hex of a PAN is found; deeper nesting is not worth the cost
_WHITESPACE_GAP = 3     # "6222  0210": up to 3 blanks count as one separator


def digits_hold_pan(run: str) -> bool:
    """A string of digits: 13-19 passing Luhn, or longer with a 13-19 digit window that does."""
    if len(run) < 13:
        return False
    if len(run) <= 19:
        return luhn_ok(run)
    # every window in O(1) (a message may hold 64 KiB of digits): Luhn doubles the
    # digits at an odd distance from the window's end, i.e. those of the end's parity
    plain: list[list[int]] = [[0], [0]]      # per parity of the position: prefix sums
    doubled: list[list[int]] = [[0], [0]]
    for p, ch in enumerate(run):
        d = ord(ch) - 48
        for parity in (0, 1):
            mine = p % 2 == parity
            plain[parity].append(plain[parity][-1] + (d if mine else 0))
            doubled[parity].append(doubled[parity][-1] + ((2 * d - 9 if d > 4 else 2 * d) if mine else 0))
    for end in range(13, len(run) + 1):
        dbl, keep = doubled[end % 2], plain[1 - end % 2]
        for start in range(max(0, end - 19), end - 12):
            if (dbl[end] - dbl[start] + keep[end] - keep[start]) % 10 == 0:
                return True
    return False


def _date(run: str) -> bool:
    """YYYYMMDD, a real date of 20xx. No card scheme issues PANs that begin with
    20 (Mastercard's 2-series is 2221-2720), so skipping one never hides a PAN's start."""
    if len(run) < 8 or not run.startswith("20"):
        return False
    try:
        date(int(run[:4]), int(run[4:6]), int(run[6:8]))
    except ValueError:
        return False
    return True


def is_timestamp(run: str) -> bool:
    """A whole run that is a compact time stamp: 20YYMMDD, 20YYMMDDhhmm or 20YYMMDDhhmmss."""
    if len(run) not in (8, 12, 14) or not _date(run):
        return False
    try:
        datetime.strptime(run[8:].ljust(6, "0"), "%H%M%S")
    except ValueError:
        return False
    return True


def _without_timestamp(run: str) -> str:
    """The digits of a run a time stamp leaves to test: none for a whole time
    stamp; for a date glued in front of more digits, what follows the date."""
    if is_timestamp(run):
        return ""
    return run[8:] if _date(run) else run


def _fold(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def _separator(gap: str) -> str | None:
    """The separator between two runs of digits, or None when the gap breaks the chain."""
    if len(gap) == 1 and not gap.isalnum() and gap != "*":
        return " " if gap.isspace() else gap
    if 1 < len(gap) <= _WHITESPACE_GAP and gap.isspace():
        return " "
    return None


def _chains(text: str) -> Iterator[list[str]]:
    """Runs of digits joined by one repeated separator. Where the separator
    changes, the run between belongs to both chains ("2026-11-21 6222 0210 …")."""
    runs = list(_RUN.finditer(text))
    if not runs:
        return
    seps = [_separator(text[a.end():b.start()]) for a, b in zip(runs, runs[1:])]
    start = 0
    for i in range(1, len(runs) + 1):
        if i == len(runs) or seps[i - 1] is None or (i - 1 > start and seps[i - 1] != seps[i - 2]):
            yield [m.group() for m in runs[start:i]]
            if i < len(runs):
                start = i if seps[i - 1] is None else i - 1


def _chain_holds_pan(runs: list[str]) -> bool:
    """A whole time stamp splits the chain; each part and all parts together are tested."""
    parts, current = [], ""
    for run in runs:
        if is_timestamp(run):
            parts.append(current)
            current = ""
        else:
            current += _without_timestamp(run)
    parts.append(current)
    return any(digits_hold_pan(p) for p in parts) or (len(parts) > 1 and digits_hold_pan("".join(parts)))


def _decoded(text: str) -> Iterator[str]:
    """Candidate tokens decoded: base64 (both alphabets, each alignment) and hex."""
    seen: set[str] = set()
    for pattern, altchars in ((_B64, None), (_B64_URL, b"-_")):
        for match in pattern.finditer(text):
            token = match.group().rstrip("=")
            if token in seen:
                continue
            seen.add(token)
            for offset in range(4):
                part = token[offset:]
                if len(part) % 4 == 1:       # not a whole byte: the last character goes
                    part = part[:-1]
                if len(part) < 16:
                    break
                part += "=" * (-len(part) % 4)
                try:
                    yield base64.b64decode(part, altchars=altchars, validate=True).decode("latin-1")
                except (binascii.Error, ValueError):
                    continue
    for match in _HEX.finditer(text):
        token = match.group()
        for offset in range(2):
            part = token[offset:]
            yield bytes.fromhex(part[:len(part) - len(part) % 2]).decode("latin-1")


def pan_in_text(text: str, _depth: int = 0) -> bool:
    """One field: does it hold a full card number, plainly, spaced out, behind a
    date, or base64/hex encoded?"""
    if len(text) < 13:
        return False
    text = _fold(text)
    if any(_chain_holds_pan(chain) for chain in _chains(text)):
        return True
    return _depth < _MAX_DEPTH and any(pan_in_text(d, _depth + 1) for d in _decoded(text))


def looks_like_pan(text: str) -> bool:
    """The test of one field (kept under the name host.bank.backups has always used)."""
    return pan_in_text(text)


def _free_digits(text: str) -> str:
    text = _ISO.sub(" ", _fold(text))
    return "".join(_without_timestamp(run) for run in _RUN.findall(text))


def pan_across(texts: Iterable[str]) -> bool:
    """Every digit of the free-text fields of one message, in order (time stamps
    and ISO dates left out), tested as one run: a PAN split across fields."""
    return digits_hold_pan("".join(_free_digits(t) for t in texts))


def scalars(value: Any) -> Iterator[str]:
    """The texts of a JSON value, keys included, in order (numbers as their digits)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from scalars(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def first_pan(free: Iterable[Any] = (), shaped: Iterable[Any] = ()) -> bool:
    """True if any field (free or shaped) holds a PAN, or the free fields do together."""
    free_texts = [t for value in free for t in scalars(value)]
    shaped_texts = [t for value in shaped for t in scalars(value)]
    return any(pan_in_text(t) for t in (*free_texts, *shaped_texts)) or pan_across(free_texts)


WITHHELD = "(withheld: looked like a card number)"


def withheld(text: str, *, split_too: bool = True) -> str:
    """A text that must be accepted whatever it says -- a reversal's or cancel's
    reason (refusing the acknowledgement would leave money in doubt for ever), a
    kiosk's error report (refusing the heartbeat would show the kiosk offline) --
    stored as WITHHELD when it holds what looks like a full card number; with
    `split_too`, also when its digits together do (a PAN split by a date or
    letters). Error reports pass False: their addresses, ports and errnos
    together would withhold most of them."""
    return WITHHELD if pan_in_text(text) or (split_too and pan_across([text])) else text


def refuse_pan(free: Iterable[Any] = (), shaped: Iterable[Any] = (), *, what: str = "the message",
               advice: str = "send no card number") -> None:
    """400 bad_request (BadRequest: the channel rolls back, nothing is stored) when
    a free or shaped field holds a full card number, or the free ones do together."""
    if first_pan(free, shaped):
        raise BadRequest(f"{what} holds what looks like a full card number; {advice}")
