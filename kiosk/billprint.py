"""Plain-text rendering of a household bill, for `kiosk bill` (staff and scripts)."""
from __future__ import annotations

from kiosk.domain.bill import HouseholdBill
from kiosk.i18n import tr


def _both(key: str) -> str:
    """'水费 Water': staff read either language."""
    return f"{tr(key, 'zh')} {tr(key, 'en')}"


def render_bill(bill: HouseholdBill) -> str:
    out = [f"{bill.estate}  {bill.house}  ({bill.area_m2} m²)  as of {bill.as_of}"]
    month = bill.current
    if month is None:
        out.append("No bill issued yet.")
    else:
        state = "paid" if month.paid else f"due {month.due_on}"
        out.append(f"Bill {month.period} ({state}): {month.amount.yuan}")
        for line in month.lines:
            reading = ""
            if line.previous_reading is not None:
                reading = f"  {line.previous_reading} -> {line.current_reading}"
            out.append(f"  {_both(f'utility.{line.utility}'):<22}{line.amount.yuan:>12}"
                       f"{reading}  usage {line.usage} {line.unit}")
            for tier in line.tiers:
                out.append(f"      tier {tier.tier}: {tier.quantity} x {tier.unit_price} = {tier.amount.yuan}")
    for arrear in bill.arrears:
        out.append(f"  Arrears {arrear.period} (due {arrear.due_on}, {arrear.days_overdue} days overdue)"
                   f"{arrear.amount.yuan:>12}")
    out.append(f"  {'Late fee 滞纳金':<22}{bill.late_fee.yuan:>12}")
    out.append(f"  {'TOTAL DUE 应缴合计':<22}{bill.total_due.yuan:>12}")
    return "\n".join(out)
