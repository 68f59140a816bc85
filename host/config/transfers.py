"""[transfer] in the host config: the limits of money moved between two cards
(issue 14 deliverable 4; docs/cards.md "Transfers")."""
from __future__ import annotations

from dataclasses import dataclass

from common.settings import Section

_MAX_FEN = 16_777_215      # a one-card purse's 3 bytes: no transfer can be larger


@dataclass(frozen=True, slots=True)
class TransferSettings:
    per_transfer_fen: int = 200_000        # 2,000.00 yuan in one transfer
    per_card_day_fen: int = 500_000        # 5,000.00 yuan out of one card in one business day


def load_transfer_settings(section: Section) -> TransferSettings:
    def fen(value: int) -> str | None:
        return None if 1 <= value <= _MAX_FEN else f"must be 1..{_MAX_FEN} fen"
    settings = TransferSettings(per_transfer_fen=section.get("per_transfer_fen", int, 200_000, check=fen),
                                per_card_day_fen=section.get("per_card_day_fen", int, 500_000, check=fen))
    section.reject_unknown()
    return settings
