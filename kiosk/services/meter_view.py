"""What the meter service hands the screens (docs/meters.md "The kiosk"): the
card as the host sees it, a quote, a sale's outcome; the host's refusal codes
as typed errors; a sale's receipt from its journal entry alone."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from common.meter_card import units_text
from common.money import Money
from kiosk.backend_client.meters import CheckReply, QuoteLine
from kiosk.domain.errors import (MeterCardLost, MeterCardRejected, MeterForeign, MeterNotApplied, MeterOverLimit,
                                 MeterQuantityRefused, MeterRefused)
from kiosk.domain.receipt import Receipt, ReceiptItem
from kiosk.i18n import tr
from kiosk.services.journal_meters import MeterSaleEntry

RECEIPT_LANGUAGE = "zh"
UNITS = {"electricity": "kWh", "water": "m³", "gas": "m³"}
_REFUSALS: dict[str, type[MeterRefused]] = {
    "not_applied": MeterNotApplied, "over_hoarding_limit": MeterOverLimit, "lost_card": MeterCardLost,
    "foreign_meter": MeterForeign, "bad_card_mac": MeterCardRejected, "stale_card": MeterCardRejected,
    "bad_quantity": MeterQuantityRefused, "total_full": MeterQuantityRefused,
    "amount_too_small": MeterQuantityRefused}


def refusal(code: str) -> MeterRefused:
    return _REFUSALS.get(code, MeterRefused)(code)


def units(quantity: int, utility: str) -> str:
    """0.01 units as the resident reads them: "100.00 kWh"."""
    return f"{units_text(quantity)} {UNITS.get(utility, '')}".rstrip()


@dataclass(frozen=True)
class MeterView:
    """The card in the reader as the vending host checked it."""
    reader: str
    meter: str
    utility: str
    house_no: str
    count: int               # EF 01's purchase count
    remaining: int           # the meter's last report (EF 02), 0.01 units
    cumulative: int
    status: tuple[str, ...]  # supply_cut, low_credit, tamper, pulled_early
    applied: bool            # the last purchase reached the meter
    hoarding_max: int
    ef01: bytes
    ef02: bytes
    refusal: str | None = None     # why nothing can be sold now (not_applied, over_hoarding_limit)
    resolved: str | None = None    # a torn sale this read finished writing

    @classmethod
    def of(cls, reader: str, reply: CheckReply, ef01: bytes, ef02: bytes, resolved: str | None) -> MeterView:
        return cls(reader, reply.get("meter", ""), reply.get("utility", ""), reply.get("house_no", ""),
                   reply.get("count", 0), reply.get("remaining", 0), reply.get("cumulative", 0),
                   tuple(reply.get("status", [])), bool(reply.get("applied")), reply.get("hoarding_max", 0),
                   ef01, ef02, reply.get("code") if reply["result"] == "refused" else None, resolved)

    @property
    def room(self) -> int:
        """What the hoarding limit still allows, 0.01 units."""
        return max(0, self.hoarding_max - self.remaining)


@dataclass(frozen=True)
class MeterQuote:
    sale_id: str
    view: MeterView
    quantity: int
    amount: Money
    lines: tuple[QuoteLine, ...]


@dataclass(frozen=True)
class MeterOutcome:
    sale_id: str
    approved: bool
    quantity: int
    amount: Money
    count: int = 0
    reference: str = ""
    decline_code: str = ""
    tries_left: int | None = None
    confirmed: bool = False        # the host heard of the write (else the settling task tells it)


def meter_receipt(entry: MeterSaleEntry, estate: str, kiosk_id: str, *, reprint: bool = False) -> Receipt:
    """The receipt of a sale written onto the card: each tier line (quantity,
    unit price, amount), the meter and the purchase count."""
    if entry.state not in ("written", "confirmed", "confirming"):
        raise KeyError(f"no written meter sale {entry.sale_id}")
    d, lang = entry.detail, RECEIPT_LANGUAGE
    utility = str(d["utility"])
    name = tr(f"utility.{utility}", lang)
    items = tuple(ReceiptItem(tr("meter.receipt.line", lang, utility=name, quantity=units(line["quantity"], utility),
                                 price=line["unit_price"]), Money(line["amount_fen"])) for line in d["lines"])
    extra = (f"{tr('meter.receipt.meter', lang)}: {entry.meter}", f"{tr('meter.receipt.count', lang)}: {d['count']}",
             units(entry.quantity, utility))
    return Receipt(estate=estate, kiosk_id=kiosk_id, when=datetime.fromisoformat(d["at"]), house_no=entry.house_no,
                   items=items, total=Money(entry.amount_fen), masked_pan=entry.masked_pan, txn_id=entry.sale_id,
                   reference=str(d.get("reference", "")), auth_code="", reprint=reprint,
                   title=tr("meter.receipt.title", lang), extra=extra)
