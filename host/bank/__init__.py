"""The bank front-end role of the reference host (docs/payments.md): kiosk
sign-on and working keys, message security (MAC + counter), card accounts,
payments and reversals, the bank journal, the property ledger and the kiosks'
backup copies. `money_totals` is the invariant the tests check."""
from __future__ import annotations

from host.bank.journal import money_totals

__all__ = ["money_totals"]
