"""Money as integer fen (1 yuan = 100 fen). Never a float."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True, order=True, slots=True)
class Money:
    fen: int

    def __post_init__(self) -> None:
        if not isinstance(self.fen, int) or isinstance(self.fen, bool):
            raise TypeError(f"Money needs integer fen, got {self.fen!r}")

    @classmethod
    def zero(cls) -> Money:
        return cls(0)

    @classmethod
    def from_decimal(cls, yuan: Decimal) -> Money:
        """Round a yuan amount to the fen, half up (the usual rule on Chinese bills)."""
        return cls(int((yuan * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)))

    @classmethod
    def parse(cls, text: str) -> Money:
        """'123.45' -> Money(12345). Rejects more than two decimals, and digits
        other than ASCII (Decimal would read '١٢٣')."""
        if not text.isascii():
            raise ValueError(f"amount {text!r} must be written with ASCII digits")
        value = Decimal(text)
        if value != value.quantize(Decimal("0.01")):
            raise ValueError(f"amount {text!r} has more than two decimals")
        return cls(int(value * 100))

    def __add__(self, other: Money) -> Money:
        return Money(self.fen + other.fen)

    def __sub__(self, other: Money) -> Money:
        return Money(self.fen - other.fen)

    def __bool__(self) -> bool:
        return self.fen != 0

    @property
    def yuan(self) -> str:
        """'1234.56' (no grouping, no symbol): for receipts and the wire."""
        sign = "-" if self.fen < 0 else ""
        whole, frac = divmod(abs(self.fen), 100)
        return f"{sign}{whole}.{frac:02d}"

    def display(self) -> str:
        """'¥1,234.56': for screens."""
        sign = "-" if self.fen < 0 else ""
        whole, frac = divmod(abs(self.fen), 100)
        return f"{sign}¥{whole:,}.{frac:02d}"

    def __str__(self) -> str:
        return self.display()


def total(amounts: "list[Money] | tuple[Money, ...]") -> Money:
    return Money(sum(m.fen for m in amounts))
