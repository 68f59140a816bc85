"""The bench's estate one-cards (MIFARE Classic 1K, docs/onecard.md): what a
row says of one (who, its house, the purse as the card itself holds it, its
black flag or a write left unfinished) and the write a "pull during the next
write" tears. They share the IC-card rows of ic_cards.py; a one-card is only
ever tapped (the contactless reader)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from common.money import Money
from common.onecard import BLACK_OK, DEMO_MAP, Flag, MalformedBlock
from common.onecard_blocks import decode_value, read_public_info
from kiosk.i18n import pick, tr

if TYPE_CHECKING:
    from common.demo_cards import DemoOneCardEntry
    from kiosk.devices.sim.m1_card import VirtualM1Card

# The purse's value operation (FF D7: increment / decrement + transfer): a pull
# right after it leaves the card debited or credited with its flag still
# "pending", the case the next presentation's recovery must prove applied.
ONECARD_VALUE_OP = (0xFF, 0xD7)


def onecard_title(card: DemoOneCardEntry, lang: str) -> str:
    return f"{pick(card.name, lang)}\n{card.uid} · {tr('bench.onecard.house', lang, house=card.house)}"


def onecard_state(card: DemoOneCardEntry, live: VirtualM1Card | None, lang: str) -> str:
    """The purse as the card holds it now (block 8), and what is special about it."""
    if live is None:
        balance, black, pending = card.balance, card.black, False
    else:
        try:
            balance = Money(decode_value(live.block(DEMO_MAP.purse_block))[0])
            info, _ = read_public_info(live.block(DEMO_MAP.public_block), live.block(DEMO_MAP.public_inverse_block))
        except MalformedBlock:
            return tr("bench.onecard.malformed", lang)
        black, pending = info.black != BLACK_OK, info.flag != Flag.DONE
    notes = [tr("bench.onecard.balance", lang, balance=balance.display())]
    if black:
        notes.append(tr("bench.onecard.black", lang))
    if pending:
        notes.append(tr("bench.onecard.pending", lang))
    return " · ".join(notes)


def is_onecard_write(apdu: bytes) -> bool:
    return len(apdu) > 1 and (apdu[0], apdu[1]) == ONECARD_VALUE_OP
