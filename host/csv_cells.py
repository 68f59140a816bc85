"""Every CSV the host writes goes through here: cells are neutralised against
formula injection (OWASP, "CSV Injection"). A text cell that a spreadsheet
would read as a formula — starting with =, +, -, @, a tab or a carriage
return (and their full-width forms) — gets a leading apostrophe, so
`=HYPERLINK(…)` from a kiosk's reason shows as text. Numbers stay numbers:
an int, or a text that is a plain number (`-1234`, `-12.34`), is written as is."""
from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


class _Out(Protocol):
    def write(self, s: str, /) -> Any: ...


def safe_cell(value: object) -> object:
    """The value to write: a formula-looking text quoted, anything else unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and _PLAIN_NUMBER.fullmatch(value) is None:
        return "'" + value
    return value


class SafeWriter:
    """csv.writer with every cell through safe_cell."""

    def __init__(self, out: _Out, **kwargs: Any) -> None:
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _Out, **kwargs: Any) -> SafeWriter:
    return SafeWriter(out, **kwargs)
