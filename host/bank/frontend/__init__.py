"""The reference bank's front-end on the ISO 8583 link (BANK-8583.md,
docs/bank-link.md "The reference front-end"): a TCP server `kiosk host serve`
starts beside the HTTP app. The wire is common.bank8583's; the card, PIN,
limit and balance checks are host.bank.payments' (shared with the JSON bank).

- `server`: the asyncio TCP server: framing, bounds, timeouts, connections
- `dispatch`: one frame in, one reply out: terminal, session, MAC, routing
- `session`: per-terminal sessions (keys wrapped under the TMK, batch), RRNs
- `financial`: purchase, balance inquiry, PIN change, reversal
- `settlement`: settlement and batch upload
- `exchange`: a request's context, response codes, reply helpers
"""
from __future__ import annotations

from host.bank.frontend.server import BankFrontEnd

__all__ = ["BankFrontEnd"]
