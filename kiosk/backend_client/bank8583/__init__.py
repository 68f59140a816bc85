"""The kiosk's client of the bank front-end over ISO 8583
(`../shared/BANK-8583.md`; docs/bank-link.md "The kiosk's client").

- `settings`: `LinkSettings` (address, TPDU, header, terminal, TMK, timeouts)
- `link`: the TCP transport: one frame out, one frame back, LEN bounded
- `store`: what the link keeps in the kiosk journal (STAN, batch, pending
  reversals, the batch's debits), as a Protocol the journal implements
- `messages`: each request's fields, reply matching, response codes
- `client`: `BankLink` (sign-on, echo, purchase, reversal, balance, PIN change)
- `settlement`: the 0500 and, when unbalanced, the batch upload

The wire itself (framing, fields, keys, tracks, MACs) is `common.bank8583`.
"""
