"""The card centre of the reference host (docs/cards.md §5): the issuer keys'
MAC checks, the card registry with mirrored balances, the bank side of wallet
loads and unloads, wallet purchases of the household bill, sightings and the
blacklist. Every message runs on the bank's SecureChannel (host.bank.security).

Its tables are host.schema.cards, so host.bank (which the card modules use)
reads them without importing the card centre."""
