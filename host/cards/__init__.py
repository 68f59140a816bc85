"""The card centre of the reference host (docs/cards.md §5): the issuer keys'
MAC checks, the card registry with mirrored balances, the bank side of wallet
loads and unloads, wallet purchases of the household bill, sightings and the
blacklist. Every message runs on the bank's SecureChannel (host.bank.security).

Kept import-free on purpose: host.bank.payments and host.bank.journal read
host.cards.schema, and the card modules use host.bank in turn."""
