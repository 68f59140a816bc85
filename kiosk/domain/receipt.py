"""What a receipt says (the printer adapter decides how it looks on paper)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from common.money import Money


@dataclass(frozen=True, slots=True)
class ReceiptItem:
    label: str           # e.g. "电费 2026-10" or "滞纳金"
    amount: Money


@dataclass(frozen=True, slots=True)
class Receipt:
    estate: str
    kiosk_id: str
    when: datetime
    house_no: str
    items: tuple[ReceiptItem, ...]
    total: Money
    masked_pan: str      # first 6 / last 4 only
    txn_id: str          # the kiosk's transaction id
    reference: str       # the bank's reference number
    auth_code: str
    reprint: bool = False
    title: str = "自助缴费凭条 / PAYMENT RECEIPT"
    extra: tuple[str, ...] = ()   # e.g. an IC card's serial and new balance

    def lines(self) -> list[str]:
        """The receipt as text lines (Chinese first, as residents read it)."""
        out = [self.estate, self.title]
        if self.reprint:
            out.append("*** 重打印 REPRINT ***")
        out += [
            f"终端号 Kiosk: {self.kiosk_id}",
            f"时间 Time: {self.when:%Y-%m-%d %H:%M:%S}",
        ]
        if self.house_no:
            out.append(f"房号 House: {self.house_no}")
        out.append("-" * 32)
        out += [f"{item.label}  {item.amount.yuan:>10}" for item in self.items]
        out += [
            "-" * 32,
            f"合计 TOTAL  {self.total.yuan:>10}",
        ]
        if self.masked_pan:
            out.append(f"卡号 Card: {self.masked_pan}")
        out += [f"参考号 Ref: {self.reference}"] if self.reference else []
        out += [f"授权码 Auth: {self.auth_code}"] if self.auth_code else []
        out += list(self.extra)
        out += [
            f"流水号 Txn: {self.txn_id}",
            "交易以银行记录为准",
            "The bank's journal prevails.",
        ]
        return out
